/** The two image pickers: thumbnails with a remove button, file inputs and drag-and-drop. */
import { scheduleEstimate } from './page-estimate';
import { updateStart } from './page-form';
import { showError, type Page } from './page';

function thumb(file: File, onRemove: () => void): HTMLElement {
  const figure = document.createElement('figure');
  figure.className = 'thumb';
  const img = document.createElement('img');
  img.src = URL.createObjectURL(file);
  img.alt = file.name;
  img.onload = () => URL.revokeObjectURL(img.src);
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'remove';
  remove.title = `Remove ${file.name}`;
  remove.textContent = '×';
  remove.onclick = onRemove;
  const caption = document.createElement('figcaption');
  caption.textContent = file.name;
  figure.append(img, remove, caption);
  return figure;
}

export function renderImages(page: Page): void {
  const { ui, state } = page;
  ui.contentThumbs.replaceChildren(
    ...(state.contentFile
      ? [
          thumb(state.contentFile, () => {
            state.contentFile = undefined;
            renderImages(page);
          }),
        ]
      : []),
  );
  ui.styleThumbs.replaceChildren(
    ...state.styleFiles.map((f, i) =>
      thumb(f, () => {
        state.styleFiles = state.styleFiles.filter((_, j) => j !== i);
        renderImages(page);
      }),
    ),
  );
  ui.contentDrop.classList.toggle('filled', !!state.contentFile);
  ui.styleDrop.classList.toggle('filled', state.styleFiles.length > 0);
  state.masks?.update();
  updateStart(page);
}

export function addContent(page: Page, files: FileList | File[]): void {
  const { state } = page;
  // Any file: the server decodes it and explains what is wrong with one that is not an image.
  const image = [...files][0];
  if (image) {
    state.contentFile = image;
    state.contentSize = undefined;
    createImageBitmap(image)
      .then((bitmap) => {
        if (state.contentFile === image) state.contentSize = { width: bitmap.width, height: bitmap.height };
        bitmap.close();
        scheduleEstimate(page);
      })
      .catch(() => undefined); // not an image: the server says so when the job is started
  }
  renderImages(page);
}

export function addStyles(page: Page, files: FileList | File[]): void {
  const { state } = page;
  const room = state.config.limits.maxStyles - state.styleFiles.length;
  const incoming = [...files];
  if (incoming.length > room) showError(page, `at most ${state.config.limits.maxStyles} style images; kept the first ${room > 0 ? room : 0} of these`);
  state.styleFiles = [...state.styleFiles, ...incoming.slice(0, Math.max(0, room))];
  renderImages(page);
}

export function dropZone(zone: HTMLElement, input: HTMLInputElement, add: (files: FileList | File[]) => void): void {
  input.addEventListener('change', () => {
    if (input.files) add(input.files);
    input.value = '';
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer?.files.length) add(e.dataTransfer.files);
  });
}
