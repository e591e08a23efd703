/**
 * Electron entry: one window around the renderer. Thin by design: the host's services come from the same
 * composition root as the CLI and `spatialclaw serve` (electron/services/app/), served by the same
 * plain-Node WorkbenchHost; this file only maps the METHODS table onto IPC, generically:
 * - `wb:<method>` (ipcMain.handle): args validated with `METHODS[method].args`, sender checked (our
 *   window's main frame, our page), resolves to an {@link IpcReply} (never rejects, so `fix` survives);
 * - `wb:event`: every HostEvent, pushed to the window;
 * - `wb:pickPaths`: the native open dialog; `wb:menu`: File > Open Video… / Open Folder… results.
 * See docs/workbench.md.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, type IpcMainInvokeEvent, Menu, type MenuItemConstructorOptions, screen, session, shell } from 'electron';
import { z } from 'zod';
import { METHOD_NAMES } from '../../shared/workbench.ts';
import { createServices } from '../services/app/index.ts';
import { env } from '../services/config/env.ts';
import { writeJsonAtomic } from '../services/fs/atomic.ts';
import { dataDir } from '../services/paths.ts';
import { WorkbenchHost } from '../services/workbench/host.ts';
import { contentSecurityPolicy, type IpcReply, ipcReply } from '../services/workbench/transport.ts';

const VIDEO_FILTERS = [
  { name: 'Videos', extensions: ['mp4', 'mov', 'avi', 'mkv', 'webm', 'm4v'] },
  { name: 'Images', extensions: ['png', 'jpg', 'jpeg'] },
  { name: 'All files', extensions: ['*'] },
];

const PickOptionsSchema = z
  .object({
    kind: z.enum(['file', 'folder']),
    title: z.string().max(200).optional(),
    filters: z.array(z.object({ name: z.string().max(100), extensions: z.array(z.string().regex(/^(\*|[A-Za-z0-9]{1,10})$/)).max(50) })).max(20).optional(),
  })
  .strict();

let mainWindow: BrowserWindow | null = null;
const rendererIndex = join(import.meta.dirname, '../renderer/index.html');
const devUrl = env('rendererUrl');

/** Only our window's main frame, showing our page, may call the host. */
function trustedSender(event: IpcMainInvokeEvent): boolean {
  const win = mainWindow;
  if (!win || win.isDestroyed() || event.sender !== win.webContents) return false;
  const frame = event.senderFrame;
  if (!frame || frame !== win.webContents.mainFrame) return false;
  let url: URL;
  try {
    url = new URL(frame.url);
  } catch {
    return false;
  }
  if (devUrl) return url.origin === new URL(devUrl).origin;
  return url.protocol === 'file:' && url.pathname === pathToFileURL(rendererIndex).pathname;
}

const refused = (method: string): IpcReply => ({
  ok: false,
  error: { error: `${method} refused: the call did not come from the workbench window`, fix: null, method, status: 403 },
});

// ---- window state -----------------------------------------------------------------------------------
const WindowStateSchema = z.object({
  x: z.number().int(),
  y: z.number().int(),
  width: z.number().int().min(400).max(20_000),
  height: z.number().int().min(300).max(20_000),
  maximized: z.boolean(),
});
type WindowState = z.infer<typeof WindowStateSchema>;
const stateFile = (): string => join(dataDir(), 'window-state.json');

function loadWindowState(): WindowState | null {
  try {
    const s = WindowStateSchema.parse(JSON.parse(readFileSync(stateFile(), 'utf8')));
    // Keep it on a display that exists now (monitors come and go): at least 120x80 px visible.
    const visible = screen.getAllDisplays().some(({ workArea: a }) => {
      const w = Math.min(s.x + s.width, a.x + a.width) - Math.max(s.x, a.x);
      const h = Math.min(s.y + s.height, a.y + a.height) - Math.max(s.y, a.y);
      return w >= 120 && h >= 80;
    });
    const area = screen.getDisplayMatching({ x: s.x, y: s.y, width: s.width, height: s.height }).workArea;
    const width = Math.min(s.width, area.width);
    const height = Math.min(s.height, area.height);
    if (visible) return { ...s, width, height };
    return { ...s, width, height, x: area.x + Math.round((area.width - width) / 2), y: area.y + Math.round((area.height - height) / 2) };
  } catch {
    return null; // missing or damaged: default size, centred
  }
}

function saveWindowState(win: BrowserWindow): void {
  try {
    const b = win.getNormalBounds();
    const state: WindowState = { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() };
    mkdirSync(dataDir(), { recursive: true });
    writeJsonAtomic(stateFile(), state);
  } catch (e) {
    console.error(`could not save the window state: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---- window and menu --------------------------------------------------------------------------------
function createWindow(): BrowserWindow {
  const saved = loadWindowState();
  const win = new BrowserWindow({
    ...(saved ? { x: saved.x, y: saved.y, width: saved.width, height: saved.height } : { width: 1440, height: 900 }),
    title: 'SpatialClaw Workbench',
    show: false,
    webPreferences: {
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });
  if (saved?.maximized) win.maximize();
  win.once('ready-to-show', () => win.show());
  win.on('close', () => saveWindowState(win));
  win.on('closed', () => {
    if (mainWindow === win) mainWindow = null;
  });
  // No navigation away from the app and no new windows; external links open in the system browser.
  win.webContents.on('will-navigate', (event) => event.preventDefault());
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  if (devUrl) void win.loadURL(devUrl);
  else void win.loadFile(rendererIndex);
  mainWindow = win;
  return win;
}

async function openFromMenu(kind: 'file' | 'folder'): Promise<void> {
  const win = mainWindow;
  if (!win) return;
  const r = await dialog.showOpenDialog(win, {
    title: kind === 'file' ? 'Open a video or images' : 'Open a folder of images or an RGB-D sample',
    properties: kind === 'file' ? ['openFile', 'multiSelections'] : ['openDirectory'],
    ...(kind === 'file' ? { filters: VIDEO_FILTERS } : {}),
  });
  if (!r.canceled && r.filePaths.length) win.webContents.send('wb:menu', { action: 'open', kind, paths: r.filePaths });
}

function buildMenu(): void {
  const isMac = process.platform === 'darwin';
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Video…', accelerator: 'CmdOrCtrl+O', click: () => void openFromMenu('file') },
        { label: 'Open Folder…', accelerator: 'CmdOrCtrl+Shift+O', click: () => void openFromMenu('folder') },
        { type: 'separator' },
        isMac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    { role: 'viewMenu' },
    { role: 'windowMenu' },
    { role: 'help', submenu: [{ role: 'about' }] },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

// ---- IPC: the METHODS table, generically -------------------------------------------------------------
function registerIpc(host: WorkbenchHost): void {
  for (const method of METHOD_NAMES) {
    ipcMain.handle(`wb:${method}`, async (event, raw: unknown): Promise<IpcReply> => {
      if (!trustedSender(event)) return refused(method);
      return ipcReply(host.handlers, method, raw);
    });
  }
  ipcMain.handle('wb:pickPaths', async (event, raw: unknown): Promise<string[] | null> => {
    const win = mainWindow;
    if (!trustedSender(event) || !win) return null;
    const opts = PickOptionsSchema.safeParse(raw);
    if (!opts.success) return null;
    const { kind, title, filters } = opts.data;
    const r = await dialog.showOpenDialog(win, {
      ...(title ? { title } : {}),
      properties: kind === 'file' ? ['openFile', 'multiSelections'] : ['openDirectory'],
      ...(kind === 'file' ? { filters: filters ?? VIDEO_FILTERS } : {}),
    });
    return r.canceled || r.filePaths.length === 0 ? null : r.filePaths;
  });
  host.onEvent((e) => {
    const win = mainWindow;
    if (win && !win.isDestroyed()) win.webContents.send('wb:event', e);
  });
}

// ---- lifecycle --------------------------------------------------------------------------------------
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let host: WorkbenchHost | null = null;
  let hostClosed = false;
  app.on('second-instance', () => {
    const win = mainWindow;
    if (win) {
      if (win.isMinimized()) win.restore();
      win.focus();
    }
  });
  void app.whenReady().then(async () => {
    const csp = contentSecurityPolicy(devUrl ? [new URL(devUrl).origin.replace(/^http/, 'ws')] : []);
    session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } });
    });
    try {
      host = await WorkbenchHost.create({ services: createServices() });
    } catch (e) {
      dialog.showErrorBox('SpatialClaw Workbench could not start', `${e instanceof Error ? e.message : String(e)}\n\nRun \`spatialclaw doctor\` in a terminal for the fix.`);
      hostClosed = true;
      app.quit();
      return;
    }
    registerIpc(host);
    buildMenu();
    createWindow();
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) createWindow();
    });
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  // Stop kernels and servers before the process goes.
  app.on('before-quit', (event) => {
    if (hostClosed || !host) return;
    event.preventDefault();
    const h = host;
    host = null;
    void h
      .close()
      .catch((e: unknown) => console.error(`closing the workbench host failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        hostClosed = true;
        app.quit();
      });
  });
}
