import { create } from 'zustand';
import type { DoctorReport } from '../../shared/doctor.ts';

export type View = 'ask' | 'runs' | 'settings';

interface UiState {
  view: View;
  setView: (view: View) => void;
  doctor: DoctorReport | null;
  doctorError: string | null;
  setDoctor: (report: DoctorReport | null, error?: string | null) => void;
}

/** UI state shared across views (zustand). */
export const useUi = create<UiState>((set) => ({
  view: 'ask',
  setView: (view) => set({ view }),
  doctor: null,
  doctorError: null,
  setDoctor: (doctor, error = null) => set({ doctor, doctorError: error }),
}));
