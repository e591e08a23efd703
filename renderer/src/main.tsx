import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createHttpApi } from '../../shared/http-client.ts';
import { pickTransport } from './api.ts';
import { App } from './App.tsx';
import './styles.css';

const rootEl = document.getElementById('root');
if (!rootEl) throw new Error('index.html has no #root element');

function sessionStore(): Storage | null {
  try {
    return window.sessionStorage; // throws when storage is disabled
  } catch {
    return null;
  }
}
const storage = sessionStore();
const pick = pickTransport({ bridge: window.spatialclaw, location: window.location, storage, history: window.history, createHttpApi });

createRoot(rootEl).render(
  <StrictMode>
    <App api={pick.api} reason={pick.reason} />
  </StrictMode>,
);
