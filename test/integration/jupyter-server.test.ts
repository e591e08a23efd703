import { KernelManager } from '@jupyterlab/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeCell } from '../../electron/services/jupyter/execute.ts';
import { freePort, JupyterServer, JupyterServerError } from '../../electron/services/jupyter/server.ts';
import { alive } from '../helpers/process.ts';



describe('JupyterServer (real jupyter_server from .venv)', () => {
  let server: JupyterServer;
  let manager: KernelManager;

  beforeAll(async () => {
    server = await JupyterServer.startLocal();
    manager = new KernelManager({ serverSettings: server.settings });
  });
  afterAll(async () => {
    manager?.dispose();
    await server?.stop();
  });

  it('binds 127.0.0.1 and requires the token', async () => {
    expect(server.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await server.ping()).status).toBe(200);
    const anon = await fetch(`${server.baseUrl}/api/kernels`);
    expect(anon.status).toBe(403);
    const wrong = await fetch(`${server.baseUrl}/api/kernels`, { headers: { Authorization: 'token nope' } });
    expect(wrong.status).toBe(403);
  });

  it('runs cells in a persistent kernel: state, stdout, results and errors', async () => {
    const kernel = await manager.startNew({ name: 'python3' });
    try {
      const a = await executeCell(kernel, 'x = 41\nprint("hello from", "kernel")\nx + 1', 30_000);
      expect(a.status).toBe('ok');
      expect(a.stdout).toBe('hello from kernel\n');
      expect(a.result).toBe('42');
      const b = await executeCell(kernel, 'import spatial_runtime, numpy\nx * 2, numpy.__version__.split(".")[0]', 30_000);
      expect(b.result).toBe("(82, '2')");
      const c = await executeCell(kernel, 'y = 1\n1 / 0', 30_000);
      expect(c.status).toBe('error');
      expect(c.error?.ename).toBe('ZeroDivisionError');
      expect(c.error?.traceback.join('\n')).toContain('1 / 0');
      expect(c.error?.traceback.join('\n')).not.toContain('\u001b[');
    } finally {
      await kernel.shutdown();
    }
  });

  it('interrupts a cell that runs past its timeout and keeps the kernel', async () => {
    const kernel = await manager.startNew({ name: 'python3' });
    try {
      const r = await executeCell(kernel, 'import time\nprint("started", flush=True)\ntime.sleep(60)', 1500);
      expect(r.status).toBe('timeout');
      expect(r.stdout).toContain('started');
      expect(r.error?.ename).toBe('KeyboardInterrupt');
      // The kernel survives the interrupt and still answers.
      const after = await executeCell(kernel, '6 * 7', 30_000);
      expect(after.result).toBe('42');
    } finally {
      await kernel.shutdown();
    }
  });

  it('connects to a running server by URL and token through the same class', async () => {
    const remote = await JupyterServer.connect(server.baseUrl + '/', server.token);
    expect(remote.isLocal).toBe(false);
    const m = new KernelManager({ serverSettings: remote.settings });
    const kernel = await m.startNew({ name: 'python3' });
    const r = await executeCell(kernel, '1 + 1', 30_000);
    expect(r.result).toBe('2');
    await kernel.shutdown();
    m.dispose();
    await remote.stop(); // no-op: it does not own the process
    expect((await server.ping()).status).toBe(200);
  });

  it('rejects a wrong token and a dead URL with clear errors', async () => {
    await expect(JupyterServer.connect(server.baseUrl, 'wrong-token')).rejects.toThrow(/rejected the token/);
    const dead = await freePort();
    await expect(JupyterServer.connect(`http://127.0.0.1:${dead}`, 't', 800)).rejects.toThrow(JupyterServerError);
    await expect(JupyterServer.connect('not a url', 't')).rejects.toThrow(/not a valid Jupyter server URL/);
  });
});

describe('JupyterServer lifecycle', () => {
  it('stop() ends the server and every kernel it started', async () => {
    const server = await JupyterServer.startLocal();
    const m = new KernelManager({ serverSettings: server.settings });
    const pids: number[] = [];
    for (let i = 0; i < 2; i++) {
      const kernel = await m.startNew({ name: 'python3' });
      pids.push(Number((await executeCell(kernel, 'import os; os.getpid()', 30_000)).result));
    }
    const serverPid = server.pid!;
    expect(pids.every((p) => alive(p))).toBe(true);
    m.dispose();
    await server.stop();
    expect(alive(-serverPid)).toBe(false);
    await expect.poll(() => pids.filter(alive), { timeout: 10_000 }).toEqual([]);
  });

  it('killNow() (the exit-handler path) also takes the kernels down', async () => {
    const server = await JupyterServer.startLocal();
    const m = new KernelManager({ serverSettings: server.settings });
    const kernel = await m.startNew({ name: 'python3' });
    const pid = Number((await executeCell(kernel, 'import os; os.getpid()', 30_000)).result);
    m.dispose();
    server.killNow();
    // ipykernel watches its parent and exits when the server is gone.
    await expect.poll(() => alive(pid), { timeout: 15_000 }).toBe(false);
  });

  it('reports a server that cannot start, with its output', async () => {
    await expect(JupyterServer.startLocal({ python: '/bin/false', startTimeoutMs: 5000 })).rejects.toThrow(
      /exited with code 1 before it was ready[\s\S]*spatialclaw doctor/,
    );
  });
});
