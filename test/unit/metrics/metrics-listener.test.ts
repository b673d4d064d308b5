// The metrics HTTP listener on a real socket (127.0.0.1, any free port), and
// the parsing of `--metrics` addresses.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { isLoopback, parseListenAddress } from '../../../src/config/listen-address.js';
import { MetricsListener } from '../../../src/metrics/metrics-listener.js';
import { renderMetrics } from '../../../src/metrics/prometheus.js';
import { Stats } from '../../../src/metrics/stats.js';

/** A logger whose records the test can read. */
function captureLogger(): { logger: Logger; records: Array<{ level: number; msg: string; err?: { message: string } }> } {
  const records: Array<{ level: number; msg: string; err?: { message: string } }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) records.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), records };
}

const WARN = 40;
const ERROR = 50;

async function started(render: () => string, host = '127.0.0.1') {
  const { logger, records } = captureLogger();
  const listener = new MetricsListener({ host, port: 0, render, logger });
  const address = await listener.start();
  listeners.push(listener);
  return { listener, address, records, url: (path: string) => `http://127.0.0.1:${address.port}${path}` };
}

const listeners: MetricsListener[] = [];
after(async () => {
  for (const listener of listeners) await listener.stop();
});

describe('MetricsListener', () => {
  it('serves renderMetrics at /metrics with the Prometheus content type', async () => {
    const stats = new Stats();
    stats.connectionOpened();
    const render = () => renderMetrics(stats, { policyHash: 'p1', launcherPid: undefined, launcherRestarts: 0, version: '0.1.0' });
    const { address, url, records } = await started(render);
    assert.equal(address.host, '127.0.0.1');
    assert.ok(address.port > 0);
    const response = await fetch(url('/metrics'));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    assert.match(text, /^fnjail_clients_connected 1$/m);
    assert.match(text, /^fnjail_build_info\{version="0\.1\.0",policy_hash="p1"\} 1$/m);
    assert.equal(records.filter((r) => r.level >= WARN).length, 0, 'no warning on loopback');
  });

  it('renders afresh for every scrape and ignores a query string', async () => {
    let n = 0;
    const { url } = await started(() => `# TYPE x gauge\nx ${++n}\n`);
    assert.equal(await (await fetch(url('/metrics'))).text(), '# TYPE x gauge\nx 1\n');
    assert.equal(await (await fetch(url('/metrics?name[]=x'))).text(), '# TYPE x gauge\nx 2\n');
  });

  it('answers HEAD with the headers and no body', async () => {
    const body = '# TYPE x gauge\nx 1\n';
    const { url } = await started(() => body);
    const response = await fetch(url('/metrics'), { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(response.headers.get('content-length'), String(body.length));
    assert.equal(await response.text(), '');
  });

  it('answers 404 with a hint elsewhere', async () => {
    const { url } = await started(() => '');
    for (const path of ['/', '/metrics/', '/favicon.ico']) {
      const response = await fetch(url(path));
      assert.equal(response.status, 404, path);
      assert.match(await response.text(), /\/metrics/);
    }
  });

  it('answers 405 with an Allow header to other methods', async () => {
    let rendered = 0;
    const { url } = await started(() => String(++rendered));
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const response = await fetch(url('/metrics'), { method, body: method === 'DELETE' ? null : 'x' });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('allow'), 'GET, HEAD');
      await response.text();
    }
    assert.equal(rendered, 0);
  });

  it('answers 500 and logs an error when rendering throws', async () => {
    const { url, records } = await started(() => {
      throw new Error('boom');
    });
    const response = await fetch(url('/metrics'));
    assert.equal(response.status, 500);
    assert.doesNotMatch(await response.text(), /boom/, 'the details go to the log, not to the scraper');
    const errors = records.filter((r) => r.level === ERROR);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.err?.message, 'boom');
  });

  it('warns once at start when not on a loopback address', async () => {
    const { records, url } = await started(() => '', '0.0.0.0');
    await (await fetch(url('/metrics'))).text();
    const warnings = records.filter((r) => r.level === WARN);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.msg, /not on a loopback address.*firewall/);
  });

  it('stops promptly, keep-alive connection or not, and then refuses connections', async () => {
    const { logger } = captureLogger();
    const listener = new MetricsListener({ host: '127.0.0.1', port: 0, render: () => 'x\n', logger });
    const { port } = await listener.start();
    // fetch keeps its connection open for reuse: stop() must not wait for it.
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(await response.text(), 'x\n');
    const stopping = listener.stop();
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('stop() did not resolve')), 2000).unref());
    await Promise.race([stopping, timeout]);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), (error: Error & { cause?: { code?: string } }) => {
      assert.equal(error.cause?.code, 'ECONNREFUSED');
      return true;
    });
    await listener.stop(); // a second stop is harmless
  });

  it('stop() before start() resolves', async () => {
    const { logger } = captureLogger();
    await new MetricsListener({ host: '127.0.0.1', port: 0, render: () => '', logger }).stop();
  });

  it('rejects start() with the address when the port is taken', async () => {
    const { address } = await started(() => '');
    const { logger } = captureLogger();
    const second = new MetricsListener({ host: '127.0.0.1', port: address.port, render: () => '', logger });
    await assert.rejects(second.start(), new RegExp(`cannot listen for metrics on 127\\.0\\.0\\.1:${address.port}: EADDRINUSE`));
  });
});

describe('parseListenAddress', () => {
  const valid: Array<[string, { host: string; port: number }]> = [
    ['9464', { host: '127.0.0.1', port: 9464 }],
    ['0', { host: '127.0.0.1', port: 0 }],
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['[::1]:9464', { host: '::1', port: 9464 }],
    ['[::]:80', { host: '::', port: 80 }],
    ['localhost:9464', { host: 'localhost', port: 9464 }],
    ['0.0.0.0:9464', { host: '0.0.0.0', port: 9464 }],
    ['metrics.internal-1.example:65535', { host: 'metrics.internal-1.example', port: 65535 }],
  ];
  for (const [text, expected] of valid) it(`reads "${text}"`, () => assert.deepEqual(parseListenAddress(text), expected));

  const invalid = ['', 'abc', '65536', '-1', '94.64', '127.0.0.1:', ':9464', '::1:9464', '[::1]9464', '[::1]', '[foo]:9464', 'host name:80', '1.2.3.4:99999', 'a_b:80', '-host:80', 'http://127.0.0.1:9464'];
  for (const text of invalid) {
    it(`refuses "${text}" with a clear message`, () => {
      assert.throws(() => parseListenAddress(text, 'metrics'), (error: Error) => {
        assert.ok(error.message.startsWith(`bad metrics address "${text}": `), error.message);
        assert.match(error.message, /e\.g\. 127\.0\.0\.1:9464/);
        return true;
      });
    });
  }
});

describe('isLoopback', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', 'a.localhost', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
    it(`${host} is loopback`, () => assert.equal(isLoopback(host), true));
  }
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', 'example.com', 'localhost.example.com', '']) {
    it(`${host || '""'} is not loopback`, () => assert.equal(isLoopback(host), false));
  }
});
