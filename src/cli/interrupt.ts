// Ctrl-C (SIGINT) and SIGTERM for long commands: the first asks the work to stop at its next safe
// point, where the training loops commit a checkpoint (the same command resumes from it); a second
// quits at once. SIGTERM is what job schedulers and `docker stop` send before killing a process,
// so it gets the same polite stop.

export interface Interrupt {
  /** Checked by the training loops before every step. */
  readonly signal: { aborted: boolean };
  /** Removes the handlers (call in a finally). */
  release(): void;
}

const EXIT_CODES: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export function onInterrupt(message = 'interrupting after the current step (Ctrl-C again to quit at once)'): Interrupt {
  const signal = { aborted: false };
  const handlers = (Object.keys(EXIT_CODES) as (keyof typeof EXIT_CODES)[]).map((name) => {
    const handler = () => {
      if (signal.aborted) process.exit(EXIT_CODES[name]);
      signal.aborted = true;
      process.stderr.write(`\n${name}: ${message}\n`);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  return { signal, release: () => handlers.forEach(([name, handler]) => process.off(name, handler)) };
}
