// The dashboard page: one EventSource on /dashboard/events (the browser
// reconnects by itself and sends Last-Event-ID, so the server resends what
// was missed), frames applied to the page's state and drawn at most once per
// animation frame.
import { PageState } from './page-state.js';
import { OUTCOMES, type Frame } from './payload.js';
import { byId, fillFilter, render, showConnection } from './render.js';

function start(): void {
  const state = new PageState();
  const filter = byId<HTMLSelectElement>('outcome-filter');
  fillFilter(filter, OUTCOMES);
  let drawing = false;
  const draw = () => {
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(() => {
      drawing = false;
      render(state, filter.value);
    });
  };
  filter.addEventListener('change', draw);

  const events = new EventSource('/dashboard/events');
  events.onopen = () => showConnection('live', 'Live');
  events.onmessage = (event: MessageEvent<string>) => {
    state.apply(JSON.parse(event.data) as Frame);
    showConnection('live', 'Live');
    draw();
  };
  events.onerror = () => {
    // CLOSED: the server refused the stream (not a monitor any more, or too many pages); the browser gives up.
    if (events.readyState === EventSource.CLOSED) showConnection('refused', 'Disconnected: reload the page to try again');
    else showConnection('reconnecting', 'Reconnecting…');
  };
}

start();
