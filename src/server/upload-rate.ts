/**
 * A minimum transfer rate for uploads. Upload slots are few (`--max-uploads`), so a client that
 * trickles its body must not hold one for the whole request timeout: when fewer than
 * `minBytesPerSecond` arrived over the last `windowMs`, its connection is dropped.
 *
 * Bytes are counted on the socket (bytesRead), not by listening to the request's data events,
 * which would take the body away from the multipart parser.
 */
import type { IncomingMessage } from 'node:http';

export interface UploadRate {
  /** Bytes per second a client must keep sending while its upload lasts. */
  minBytesPerSecond: number;
  /** Over how long the rate is measured (a short stall within it is fine). */
  windowMs: number;
}

/**
 * 8 KiB/s over 10 s windows: a stalled upload loses its slot within 10 s, while a real one sends far
 * more (a 20 MiB file must arrive within the 120 s request timeout anyway: 170 KiB/s).
 */
export const DEFAULT_UPLOAD_RATE: Readonly<UploadRate> = { minBytesPerSecond: 8 * 1024, windowMs: 10_000 };

/** Watch one upload; returns the function that stops watching (call it once the body has been read). */
export function watchUploadRate(request: IncomingMessage, rate: UploadRate, onSlow: () => void = () => {}): () => void {
  const socket = request.socket;
  let seen = socket.bytesRead;
  const timer = setInterval(() => {
    // The whole body is in: what follows (decoding the images) is the server's time, not the client's.
    if (request.complete) return clearInterval(timer);
    const now = socket.bytesRead;
    if (now - seen < (rate.minBytesPerSecond * rate.windowMs) / 1000) {
      clearInterval(timer);
      onSlow();
      socket.destroy();
      return;
    }
    seen = now;
  }, rate.windowMs);
  timer.unref();
  return () => clearInterval(timer);
}
