// Ctrl-C for long commands: the first press asks the work to stop at its next safe point (the
// last committed checkpoint stays valid and the same command resumes); a second press quits at once.

export interface Interrupt {
  /** Checked by the training loops before every step. */
  readonly signal: { aborted: boolean };
  /** Removes the handler (call in a finally). */
  release(): void;
}

export function onInterrupt(message = 'interrupting after the current step (Ctrl-C again to quit at once)'): Interrupt {
  const signal = { aborted: false };
  const handler = () => {
    if (signal.aborted) process.exit(130);
    signal.aborted = true;
    process.stderr.write(`\n${message}\n`);
  };
  process.on('SIGINT', handler);
  return { signal, release: () => process.off('SIGINT', handler) };
}
