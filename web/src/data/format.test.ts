import { describe, expect, it } from 'vitest';
import { fmtClock, fmtCompact, fmtInt, fmtMs, fmtMsAxis, fmtPct, fromDateTimeLocal, toDateTimeLocal } from './format';

describe('format', () => {
  it('formats elapsed times with sensible precision', () => {
    expect(fmtMs(0.4234)).toBe('0.42 ms');
    expect(fmtMs(12.345)).toBe('12.3 ms');
    expect(fmtMs(950.4)).toBe('950 ms');
    expect(fmtMs(1250)).toBe('1.25 s');
    expect(fmtMs(12_500)).toBe('12.5 s');
    expect(fmtMs(125_000)).toBe('2 m 05 s');
    expect(fmtMs(null)).toBe('–');
    expect(fmtMs(NaN)).toBe('–');
  });

  it('formats counts', () => {
    expect(fmtInt(1234567)).toBe('1,234,567');
    expect(fmtCompact(950)).toBe('950');
    expect(fmtCompact(1234)).toBe('1.2k');
    expect(fmtCompact(34_000)).toBe('34k');
    expect(fmtCompact(1_500_000)).toBe('1.5M');
    expect(fmtCompact(2.5)).toBe('2.5');
  });

  it('formats axes and percentages', () => {
    expect(fmtMsAxis(5)).toBe('5ms');
    expect(fmtMsAxis(1500)).toBe('1.5s');
    expect(fmtMsAxis(2000)).toBe('2s');
    expect(fmtPct(3.14159)).toBe('3.14 %');
    expect(fmtPct(12.34)).toBe('12.3 %');
    expect(fmtPct(0)).toBe('0.0 %');
  });

  it('uses local time and round-trips datetime-local inputs', () => {
    const t = new Date(2024, 0, 2, 3, 4, 5).getTime();
    expect(fmtClock(t)).toBe('03:04:05');
    expect(toDateTimeLocal(t)).toBe('2024-01-02T03:04');
    expect(fromDateTimeLocal('2024-01-02T03:04')).toBe(new Date(2024, 0, 2, 3, 4).getTime());
    expect(fromDateTimeLocal('')).toBeNaN();
  });
});
