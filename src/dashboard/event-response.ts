// One page's event stream as an HTTP response (text/event-stream): the
// feed's frames written to it until either side ends it. A page that stops
// reading is cut off once its unsent data passes the feed's limit; its
// browser reconnects and resumes from its last event.
import type { ServerResponse } from 'node:http';
import type { DashboardFeed } from './dashboard-feed.js';

export function streamFrames(feed: DashboardFeed, response: ServerResponse, lastEventId: string | undefined, headers: Record<string, string> = {}): void {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    // Proxies (nginx) pass each frame on at once instead of buffering the stream.
    'x-accel-buffering': 'no',
    ...headers,
  });
  const stop = feed.watch(lastEventId, (chunk) => {
    if (response.destroyed || !feed.keepingUp(response.writableLength)) {
      response.destroy();
      return false;
    }
    response.write(chunk);
    return true;
  });
  response.on('close', stop);
}
