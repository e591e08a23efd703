import type { DoctorReport } from './doctor.ts';

/**
 * The workbench API as the renderer sees it. Implemented by the Electron preload (IPC) and, in
 * browser mode, by the HTTP + WebSocket client of `spatialclaw serve`; every feature exists in both.
 */
export interface WorkbenchApi {
  transport: 'electron' | 'http';
  /** Run `spatialclaw doctor` on the host and return its report. */
  runDoctor(): Promise<DoctorReport>;
}
