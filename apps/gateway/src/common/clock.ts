import { Global, Injectable, Module, type DynamicModule } from '@nestjs/common';

/** Where "now" comes from. Services take it injected, so tests move time instead of sleeping. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}

/** A clock a test sets and moves; every service that injected Clock sees the same time. */
export class FakeClock extends Clock {
  constructor(private current: Date = new Date()) {
    super();
  }

  override now(): Date {
    return new Date(this.current);
  }

  set(time: Date | string): void {
    this.current = new Date(time);
  }

  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/** A clock that starts at a given instant and runs on at real speed (`PARLEY_TEST_CLOCK`: browser tests against a gateway process). */
export class ShiftedClock extends Clock {
  private readonly offsetMs: number;

  constructor(start: Date) {
    super();
    this.offsetMs = start.getTime() - Date.now();
  }

  override now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}

/** Provides the one Clock (the system's, or a test's FakeClock) to every feature. */
@Global()
@Module({})
export class ClockModule {
  static forRoot(clock: Clock = new Clock()): DynamicModule {
    return { module: ClockModule, providers: [{ provide: Clock, useValue: clock }], exports: [Clock] };
  }
}
