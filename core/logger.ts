/**
 * pino, one JSON line per event. Secrets are redacted by path (pino's `*` matches exactly one
 * level, so every depth we use is listed) and, for objects, by core/redact.ts before logging.
 */
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

const SECRET_FIELDS = ['password', 'secret', 'token', 'privateKey', 'authorization', 'Authorization'];

export function redactPaths(): string[] {
  const paths: string[] = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'];
  for (const f of SECRET_FIELDS) {
    paths.push(f, `*.${f}`, `*.*.${f}`, `*.*.*.${f}`, `*.*.*.*.${f}`);
  }
  return paths;
}

export function loggerOptions(level = process.env.CE_LOG_LEVEL ?? 'info'): LoggerOptions {
  return {
    level,
    base: { svc: 'ce' },
    redact: { paths: redactPaths(), censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return opts.destination ? pino(loggerOptions(opts.level), opts.destination) : pino(loggerOptions(opts.level));
}

/** A logger that writes nothing (CLI library calls, tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
