/**
 * One colour per style image for showing style masks (spatial control): the page paints with
 * them and the sheet tints the content panel with them, so a region has the same colour in both.
 * No platform code here: the page imports it too.
 */
export const MASK_COLOURS: readonly (readonly [number, number, number])[] = [
  [230, 25, 75],
  [0, 130, 200],
  [60, 180, 75],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [128, 128, 0],
];

/** The colour of style `index` (0-based), cycling when there are more styles than colours. */
export function maskColour(index: number): readonly [number, number, number] {
  return MASK_COLOURS[index % MASK_COLOURS.length];
}
