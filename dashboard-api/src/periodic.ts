// One background loop for the processes' periodic work (evidence checkpoints,
// price sheets from DataSpaces, the gateway's checkpoint export): a pass runs
// after `firstDelayMs`, then `intervalMs` after the previous one ended, never
// two at once. A failed pass is reported and the next one retries; stop()
// ends the loop and waits for a pass in progress, whose signal is then aborted
// so a long pass can end early.
export interface Periodic<T> {
  /** One pass now, after any pass in progress, as the timer runs it. */
  runOnce(): Promise<T>;
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
}

export function startPeriodic<T>(opts: {
  readonly intervalMs: number;
  /** Before the first pass; default intervalMs. */
  readonly firstDelayMs?: number;
  readonly pass: (signal: AbortSignal) => Promise<T>;
  readonly onError: (err: unknown) => void;
}): Periodic<T> {
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const runOnce = (): Promise<T> => {
    const pass = () => opts.pass(stopping.signal);
    const next = running.then(pass, pass);
    running = next;
    return next;
  };
  const schedule = (delay: number): void => {
    if (stopping.signal.aborted) return;
    timer = setTimeout(() => {
      runOnce()
        .catch(opts.onError)
        .finally(() => {
          schedule(opts.intervalMs);
        });
    }, delay);
    timer.unref();
  };
  schedule(opts.firstDelayMs ?? opts.intervalMs);
  return {
    runOnce,
    async stop() {
      stopping.abort();
      if (timer) clearTimeout(timer);
      await running.catch(() => undefined);
    },
  };
}
