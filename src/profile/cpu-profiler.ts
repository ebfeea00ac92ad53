import { Session } from 'node:inspector';

/**
 * The V8 CPU profiler of the current thread (main or worker), through node:inspector. The
 * profile it returns is a .cpuprofile document (JSON) that Chrome DevTools and speedscope open.
 */
export class CpuProfiler {
  private session: Session | null = null;

  get running(): boolean {
    return this.session !== null;
  }

  /** Starts sampling every `intervalUs` microseconds. */
  async start(intervalUs = 100): Promise<void> {
    if (this.session) throw new Error('the CPU profiler is already running in this thread');
    const s = new Session();
    s.connect();
    this.session = s;
    try {
      await post(s, 'Profiler.enable');
      await post(s, 'Profiler.setSamplingInterval', { interval: Math.max(10, Math.round(intervalUs)) });
      await post(s, 'Profiler.start');
    } catch (err) {
      this.session = null;
      s.disconnect();
      throw err;
    }
  }

  /** Stops and returns the profile as .cpuprofile JSON text. */
  async stop(): Promise<string> {
    const s = this.session;
    if (!s) throw new Error('the CPU profiler is not running in this thread');
    this.session = null;
    try {
      const r = (await post(s, 'Profiler.stop')) as { profile: unknown };
      await post(s, 'Profiler.disable');
      return JSON.stringify(r.profile);
    } finally {
      s.disconnect();
    }
  }
}

function post(s: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    s.post(method, params ?? {}, (err: Error | null, result?: unknown) => (err ? reject(err) : resolve(result)));
  });
}
