/** A WorkbenchHost on the real stack in a fresh temporary SPATIALCLAW_HOME, for the integration tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HostEvent, HostEventSchema } from '../../shared/workbench.ts';
import { WorkbenchHost } from '../../electron/services/workbench/host.ts';

export interface TempHomeHost {
  host: WorkbenchHost;
  home: string;
  /** Every event the host pushed, each checked against the contract. */
  events: HostEvent[];
  /** Close the host, then `also` (model servers), restore SPATIALCLAW_HOME and delete the home. */
  close(also?: () => Promise<void>): Promise<void>;
}

export async function hostInTempHome(prefix: string): Promise<TempHomeHost> {
  const prevHome = process.env.SPATIALCLAW_HOME;
  const home = mkdtempSync(join(tmpdir(), prefix));
  process.env.SPATIALCLAW_HOME = home;
  const host = await WorkbenchHost.create();
  const events: HostEvent[] = [];
  host.onEvent((e) => events.push(HostEventSchema.parse(e)));
  return {
    host, home, events,
    close: async (also) => {
      await host.close();
      await also?.();
      if (prevHome === undefined) delete process.env.SPATIALCLAW_HOME;
      else process.env.SPATIALCLAW_HOME = prevHome;
      rmSync(home, { recursive: true, force: true });
    },
  };
}
