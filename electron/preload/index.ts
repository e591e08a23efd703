/**
 * Preload (sandboxed, emitted as CommonJS): exposes a minimal, typed API to the renderer.
 * Responses are validated with the shared zod schemas before they reach React.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { WorkbenchApi } from '../../shared/api.ts';
import { DoctorReportSchema } from '../../shared/doctor.ts';

const api: WorkbenchApi = {
  transport: 'electron',
  runDoctor: async () => DoctorReportSchema.parse(await ipcRenderer.invoke('doctor:run')),
};

contextBridge.exposeInMainWorld('spatialclaw', api);
