/**
 * Wall-time accounting for work that overlaps: requests run concurrently
 * with each other and with mutations, so their durations cannot simply be
 * added up.
 */
export type Interval = readonly [start: number, end: number];

/** The union of the intervals, as sorted, disjoint intervals. */
export function union(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** Total length of the union of the intervals. */
export function coveredMs(intervals: readonly Interval[]): number {
  return union(intervals).reduce((sum, [start, end]) => sum + (end - start), 0);
}

/** Length of the time covered by `intervals` and not by `excluded`. */
export function coveredOutsideMs(intervals: readonly Interval[], excluded: readonly Interval[]): number {
  const inside = union(intervals);
  const overlap = union(excluded).reduce(
    (sum, [xs, xe]) =>
      sum + inside.reduce((s, [start, end]) => s + Math.max(0, Math.min(end, xe) - Math.max(start, xs)), 0),
    0,
  );
  return coveredMs(inside) - overlap;
}

/** The parts of the intervals that fall within `window`. */
export function clip(intervals: readonly Interval[], window: Interval): Interval[] {
  return intervals
    .map(([start, end]): Interval => [Math.max(start, window[0]), Math.min(end, window[1])])
    .filter(([start, end]) => end > start);
}
