// Socket probe run inside a network namespace (`ip netns exec NS node probe.mjs …`).
//   listen PORT...            accept on 0.0.0.0:PORT, greet and close; prints "ready" once all listen
//   connect HOST PORT MS      prints connected | refused | timeout | error:<code>
import net from 'node:net';

const [mode, ...args] = process.argv.slice(2);
if (mode === 'listen') {
  let pending = args.length;
  for (const p of args) {
    net.createServer((s) => { s.on('error', () => undefined); s.end('hello\n'); }).listen(Number(p), '0.0.0.0', () => {
      if (--pending === 0) process.stdout.write('ready\n');
    });
  }
} else if (mode === 'connect') {
  const [host, port, ms] = args;
  const s = net.connect({ host, port: Number(port) });
  const done = (what) => {
    process.stdout.write(what + '\n');
    s.destroy();
    process.exit(0);
  };
  s.setTimeout(Number(ms), () => done('timeout'));
  s.once('connect', () => done('connected'));
  s.once('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : `error:${e.code}`));
} else {
  process.stderr.write('usage: probe.mjs listen PORT... | connect HOST PORT MS\n');
  process.exit(2);
}
