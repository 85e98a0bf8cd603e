/**
 * Spatial control on the page (README "Spatial and scale control"): paint where each style goes on
 * the content photo, one colour per style image (the sheet's colours, render/mask-colours.ts), or
 * upload a mask file per style. The paint layer is a canvas at the content's size (its long side
 * capped at MAX_SIDE: a mask is stretched to each scale anyway); each stroke replaces what was under
 * it, so regions do not overlap. At start the layer becomes one grey PNG per style (white: that
 * style), sent with the job in server and browser mode alike. Nothing painted and nothing uploaded:
 * no masks, the plain run.
 */
import { maskColour } from '../render/mask-colours';
import { $, type Page } from './page';

const MAX_SIDE = 1024;
const MAX_UNDO = 20;

export interface MaskPainter {
  /** The masks to send (one per style, in style order), or undefined for a plain run. */
  masks(): Promise<Blob[] | undefined>;
  /** The content or the style list changed: redraw the panel. */
  update(): void;
}

export function setupMasks(page: Page): MaskPainter {
  const panel = $('mask-panel');
  const photo = $<HTMLImageElement>('mask-photo');
  const paint = $<HTMLCanvasElement>('mask-canvas');
  const styleList = $('mask-styles');
  const size = $<HTMLInputElement>('mask-brush');
  const eraser = $<HTMLInputElement>('mask-eraser');
  const opacity = $<HTMLInputElement>('mask-opacity');
  const ctx = paint.getContext('2d', { willReadFrequently: true })!;
  const undo: ImageData[] = [];
  const uploads: (File | undefined)[] = [];
  let current = 0;
  let painted = false;
  let content: File | undefined;

  const rgb = (i: number) => `rgb(${maskColour(i).join(',')})`;
  opacity.addEventListener('input', () => (paint.style.opacity = opacity.value));
  paint.style.opacity = opacity.value;
  $('mask-undo').addEventListener('click', () => {
    const last = undo.pop();
    if (last) ctx.putImageData(last, 0, 0);
    painted = hasPaint();
  });
  $('mask-clear').addEventListener('click', () => {
    undo.push(ctx.getImageData(0, 0, paint.width, paint.height));
    ctx.clearRect(0, 0, paint.width, paint.height);
    painted = false;
  });

  // Pointer events: mouse, pen and touch alike; the canvas is scaled by CSS, so positions are mapped.
  let last: { x: number; y: number } | undefined;
  const at = (e: PointerEvent) => {
    const r = paint.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * paint.width) / r.width, y: ((e.clientY - r.top) * paint.height) / r.height };
  };
  const stroke = (to: { x: number; y: number }) => {
    const from = last ?? to;
    ctx.globalCompositeOperation = eraser.checked ? 'destination-out' : 'source-over';
    ctx.strokeStyle = rgb(current);
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    // The brush size is a fraction of the picture's long side, so it looks the same at any size.
    ctx.lineWidth = (Number(size.value) / 100) * Math.max(paint.width, paint.height);
    if (!eraser.checked) {
      // A stroke replaces other styles' paint under it: clear first, then paint opaque.
      ctx.globalCompositeOperation = 'destination-out';
      line(from, to);
      ctx.globalCompositeOperation = 'source-over';
    }
    line(from, to);
    last = to;
  };
  const line = (a: { x: number; y: number }, b: { x: number; y: number }) => {
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x + 0.01, b.y);
    ctx.stroke();
  };
  paint.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    paint.setPointerCapture(e.pointerId);
    undo.push(ctx.getImageData(0, 0, paint.width, paint.height));
    if (undo.length > MAX_UNDO) undo.shift();
    last = undefined;
    stroke(at(e));
    painted = true;
  });
  paint.addEventListener('pointermove', (e) => {
    if (last) stroke(at(e));
  });
  const end = () => (last = undefined);
  paint.addEventListener('pointerup', end);
  paint.addEventListener('pointercancel', end);

  function hasPaint(): boolean {
    const data = ctx.getImageData(0, 0, paint.width, paint.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) return true;
    return false;
  }

  function update(): void {
    const { contentFile, styleFiles } = page.state;
    panel.hidden = !contentFile || styleFiles.length === 0;
    if (contentFile !== content) {
      content = contentFile;
      undo.length = 0;
      painted = false;
      ctx.clearRect(0, 0, paint.width, paint.height);
      if (contentFile) {
        if (photo.src) URL.revokeObjectURL(photo.src);
        photo.src = URL.createObjectURL(contentFile);
        photo.onload = () => {
          const scale = Math.min(1, MAX_SIDE / Math.max(photo.naturalWidth, photo.naturalHeight));
          paint.width = Math.max(1, Math.round(photo.naturalWidth * scale));
          paint.height = Math.max(1, Math.round(photo.naturalHeight * scale));
        };
      }
    }
    uploads.length = Math.min(uploads.length, styleFiles.length);
    current = Math.min(current, Math.max(0, styleFiles.length - 1));
    styleList.replaceChildren(
      ...styleFiles.map((file, i) => {
        const row = document.createElement('div');
        row.className = 'mask-style';
        const choose = document.createElement('label');
        const radio = document.createElement('input');
        radio.type = 'radio';
        radio.name = 'mask-style';
        radio.checked = i === current;
        radio.addEventListener('change', () => {
          current = i;
          eraser.checked = false;
        });
        const swatch = document.createElement('span');
        swatch.className = 'swatch';
        swatch.style.background = rgb(i);
        choose.append(radio, swatch, ` Paint style ${i + 1} (${file.name})`);
        const upload = document.createElement('label');
        upload.className = 'mask-upload';
        const input = document.createElement('input');
        input.type = 'file';
        input.accept = 'image/*';
        input.setAttribute('aria-label', `Mask file for style ${i + 1}`);
        input.addEventListener('change', () => {
          uploads[i] = input.files?.[0];
          note.textContent = uploads[i] ? `mask: ${uploads[i]!.name}` : '';
        });
        const note = document.createElement('span');
        note.textContent = uploads[i] ? `mask: ${uploads[i]!.name}` : '';
        upload.append('or a mask file ', input, note);
        row.append(choose, upload);
        return row;
      }),
    );
  }

  async function masks(): Promise<Blob[] | undefined> {
    const styles = page.state.styleFiles.length;
    if (!painted && !uploads.some(Boolean)) return undefined;
    const { width, height } = paint;
    const data = ctx.getImageData(0, 0, width, height).data;
    const out: Blob[] = [];
    for (let i = 0; i < styles; i++) {
      if (uploads[i]) {
        out.push(uploads[i]!);
        continue;
      }
      // The grey level is the paint's coverage where its colour is this style's (the nearest of the palette).
      const grey = new ImageData(width, height);
      for (let p = 0; p < width * height; p++) {
        const a = data[p * 4 + 3];
        const v = a > 0 && nearest(data[p * 4], data[p * 4 + 1], data[p * 4 + 2], styles) === i ? a : 0;
        grey.data.set([v, v, v, 255], p * 4);
      }
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      canvas.getContext('2d')!.putImageData(grey, 0, 0);
      out.push(await new Promise<Blob>((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('cannot encode a mask'))), 'image/png')));
    }
    return out;
  }

  return { masks, update };
}

function nearest(r: number, g: number, b: number, count: number): number {
  let best = 0;
  let bestDistance = Infinity;
  for (let i = 0; i < count; i++) {
    const c = maskColour(i);
    const d = (r - c[0]) ** 2 + (g - c[1]) ** 2 + (b - c[2]) ** 2;
    if (d < bestDistance) [best, bestDistance] = [i, d];
  }
  return best;
}
