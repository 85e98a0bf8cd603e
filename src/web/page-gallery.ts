/** Earlier results (server mode): a card per job; a click follows that job again. */
import { listJobs, resultUrl } from './api';
import { watch } from './page-job';
import { showError, type Page } from './page';
import type { JobView } from './types';

export async function refreshGallery(page: Page): Promise<void> {
  const { ui, state } = page;
  if (!state.serverConfig) return;
  let jobs: JobView[];
  try {
    jobs = await listJobs();
  } catch {
    return;
  }
  if (jobs.length === 0) return;
  ui.gallery.replaceChildren(
    ...jobs.slice(0, 48).map((job) => {
      const card = document.createElement('button');
      card.type = 'button';
      card.className = 'card';
      card.dataset.status = job.status;
      card.title = `${job.content.name} in the style of ${job.styles.map((s) => s.name).join(' + ')}`;
      if (job.result) {
        const img = document.createElement('img');
        img.loading = 'lazy';
        img.src = resultUrl(job.id);
        img.alt = card.title;
        card.append(img);
      } else {
        const empty = document.createElement('span');
        empty.className = 'card-empty';
        empty.textContent = job.status === 'queued' ? `#${job.position ?? ''} in queue` : job.status;
        card.append(empty);
      }
      const caption = document.createElement('span');
      caption.className = 'card-caption';
      caption.textContent = `${job.status} · ${new Date(job.createdAt).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })}`;
      card.append(caption);
      card.onclick = () => {
        showError(page, undefined);
        watch(page, job);
        window.scrollTo({ top: 0, behavior: 'smooth' });
      };
      return card;
    }),
  );
}
