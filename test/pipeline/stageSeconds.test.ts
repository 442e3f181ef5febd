import { describe, expect, it } from 'vitest';
import { stageSeconds } from '../../src/pipeline/context.js';

describe('stage seconds', () => {
  it('a resumed stage counts every epoch, earlier invocations too, plus this invocation outside its epochs', () => {
    // Epochs 1-2 ran before an interruption (100 s, 120 s); this invocation trained epoch 3 (130 s)
    // in a training call of 135 s and spent 20 s more on scoring and calibration.
    expect(stageSeconds([{ seconds: 100 }, { seconds: 120 }, { seconds: 130 }], 155, 135)).toBe(370);
    // Uninterrupted: the invocation's own time, also when the training call spent time outside
    // its epochs (20 s of scoring before epoch 1).
    expect(stageSeconds([{ seconds: 60 }, { seconds: 70 }], 140, 130)).toBe(140);
    expect(stageSeconds([{ seconds: 60 }, { seconds: 70 }], 160, 150)).toBe(160);
    // Nothing trained (0 epochs): the invocation's time.
    expect(stageSeconds([], 12, 0)).toBe(12);
  });
});
