/** Whether a process (pid > 0) or a process group (pass -pgid) still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
