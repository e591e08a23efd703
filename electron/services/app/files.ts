/**
 * Files on this host as the workbench sees them: folder listings for the path picker, and what inputs
 * hold (frame counts, the frame indices a sample binds, single frames as JPEG) through the preview
 * helper (workbench/preview.ts), started on first use.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { WorkbenchError } from '../../../shared/api.ts';
import type { InputSpec } from '../../../shared/kernel.ts';
import type { DirListing, InputPreview } from '../../../shared/workbench.ts';
import { PreviewProcess } from '../workbench/preview.ts';
import { errMsg } from './events.ts';

/** The paths an input names that must exist on this host, with what each is. */
function inputPaths(inp: InputSpec): [string, string][] {
  const out: [string, string][] = [[inp.path, inp.kind === 'video' ? 'video' : inp.kind === 'images' ? 'image file or folder' : inp.kind === 'rgbd' ? 'colour folder' : 'RGB-D sample folder']];
  if (inp.kind === 'images') for (const f of inp.files ?? []) out.push([f, 'image file']);
  if (inp.kind === 'rgbd') {
    out.push([inp.depth, 'depth folder'], [inp.camera, 'camera file']);
    if (inp.poses) out.push([inp.poses, 'poses file']);
  }
  return out;
}

/** Check that every path the inputs name exists (the kernel checks their contents). @throws WorkbenchError naming the first missing one. */
export function checkInputPaths(inputs: readonly InputSpec[]): void {
  for (const inp of inputs) {
    for (const [p, what] of inputPaths(inp)) {
      if (!existsSync(p)) throw new WorkbenchError(`${what} ${p} does not exist`, 'check the path, or pick the file or folder again');
    }
  }
}

/**
 * List a folder for the path picker (null: the home folder): folders first, then files, names in natural
 * order; hidden entries and broken links skipped.
 * @throws WorkbenchError when the path does not exist, is a file, or cannot be read.
 */
export function listDirectory(path: string | null): DirListing {
  const dir = resolve(path ?? homedir());
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new WorkbenchError(`${dir} does not exist`, 'pick an existing folder (listDir with null lists the home folder)');
  }
  if (!st.isDirectory()) throw new WorkbenchError(`${dir} is a file, not a folder`, `list its folder instead: ${dirname(dir)}`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new WorkbenchError(`${dir} cannot be read (${(e as NodeJS.ErrnoException).code ?? errMsg(e)})`, 'pick a folder you have permission to read');
  }
  const entries: DirListing['entries'] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    try {
      const s = statSync(p); // follows links: a link to a folder is a folder
      entries.push({ name, path: p, kind: s.isDirectory() ? 'dir' : 'file', size: s.isDirectory() ? null : s.size });
    } catch {
      // a broken link or a file that vanished: not pickable
    }
  }
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  entries.sort((a, b) => (a.kind === b.kind ? collator.compare(a.name, b.name) : a.kind === 'dir' ? -1 : 1));
  const parent = dirname(dir);
  return { path: dir, parent: parent === dir ? null : parent, entries };
}

export class FilesService {
  private preview: PreviewProcess | null = null;

  /** See {@link listDirectory}. */
  listDir(path: string | null): DirListing {
    return listDirectory(path);
  }

  /** What the inputs hold and the absolute frame indices they bind. @throws WorkbenchError (a missing path), PreviewError (unreadable input) */
  async previewInputs(inputs: InputSpec[]): Promise<InputPreview> {
    checkInputPaths(inputs);
    return this.helper().preview(inputs);
  }

  /** One frame of an input as JPEG bytes, long edge at most `maxEdge` pixels. @throws WorkbenchError, PreviewError */
  async frameImage(input: InputSpec, frameIndex: number, maxEdge: number): Promise<Uint8Array> {
    checkInputPaths([input]);
    return this.helper().frame(input, frameIndex, maxEdge);
  }

  /** Stop the preview helper if it was started. */
  close(): void {
    this.preview?.close();
  }

  private helper(): PreviewProcess {
    this.preview ??= new PreviewProcess();
    return this.preview;
  }
}
