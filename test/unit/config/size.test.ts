// Sizes: flags and config keys want the unit written out; policies may give bytes as a number.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSize, parseSize } from '../../../src/config/size.js';

describe('parseSize', () => {
  it('reads sizes with their 1024-based unit', () => {
    assert.equal(parseSize('4096 B'), 4096);
    assert.equal(parseSize('512 KiB'), 512 * 1024);
    assert.equal(parseSize('16MiB'), 16 * 1024 ** 2);
    assert.equal(parseSize(' 1.5 GiB '), 1.5 * 1024 ** 3);
    assert.equal(parseSize('2 TiB', { unitRequired: true }), 2 * 1024 ** 4);
  });

  it('takes a bare number as bytes where the schema says so (policies), and refuses it where a unit is required (flags, config)', () => {
    assert.equal(parseSize(4096), 4096);
    assert.equal(parseSize('4096'), 4096);
    assert.throws(() => parseSize(4096, { unitRequired: true }), { message: `'4096' needs a unit: write 4096 B, or use KiB, MiB, GiB (e.g. "4096 B", "512 KiB", "16 MiB", "2 GiB")` });
    assert.throws(() => parseSize('10000000', { unitRequired: true }), /needs a unit: write 10000000 B/);
  });

  it('names the unit meant when it is written the decimal way', () => {
    assert.throws(() => parseSize('10GB'), { message: `'10GB' is not a size (units are 1024-based: write 10 GiB)` });
    assert.throws(() => parseSize('512k'), { message: `'512k' is not a size (units are 1024-based: write 512 KiB)` });
    assert.throws(() => parseSize('3 parsecs'), { message: `'3 parsecs' is not a size (units: B, KiB, MiB, GiB, TiB)` });
    assert.throws(() => parseSize('-1 MiB'), /is not a size/);
  });

  it('formats for error lines', () => {
    assert.equal(formatSize(16 * 1024 ** 2), '16 MiB');
    assert.equal(formatSize(1536), '1.5 KiB');
    assert.equal(formatSize(12), '12 bytes');
  });
});
