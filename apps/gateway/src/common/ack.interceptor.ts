import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Ack } from '@parley/protocol';
import { map, type Observable } from 'rxjs';

/** Wraps what a socket handler returns as a successful ack: `{ ok: true, data }`. */
@Injectable()
export class AckInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<Ack<unknown>> {
    return next.handle().pipe(map((data: unknown) => ({ ok: true as const, data: data ?? null })));
  }
}
