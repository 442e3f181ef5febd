// The polite stop of long commands: the first SIGINT or SIGTERM only sets the flag the training
// loops check (a second would exit the process, so it is not sent here).

import { describe, expect, it, vi } from 'vitest';
import { onInterrupt } from '../../src/cli/interrupt.js';

describe('onInterrupt', () => {
  for (const name of ['SIGINT', 'SIGTERM'] as const)
    it(`${name} asks the work to stop at its next safe point, and release removes the handlers`, () => {
      const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
      const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      const { signal, release } = onInterrupt('stopping');
      try {
        expect(signal.aborted).toBe(false);
        process.emit(name);
        expect(signal.aborted).toBe(true);
        expect(String(write.mock.calls[0][0])).toContain(`${name}: stopping`);
      } finally {
        release();
        write.mockRestore();
      }
      expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(before);
    });
});
