import 'reflect-metadata';
import { Controller, Get, type INestApplication, type NestMiddleware, Module, type MiddlewareConsumer, Put, type NestModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PatientSearchQuery, type Role, UpdateHoursSettingsRequest } from '@parley/protocol';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import type { Actor } from './actor.js';
import { requireSender } from './edge-roles.js';
import { HttpErrorFilter } from './http-error.filter.js';
import { ZodBody } from './zod-body.decorator.js';
import { ZodQuery } from './zod-query.decorator.js';

/** A body nobody restricts: validated for anyone. */
const OpenBody = z.object({ note: z.string().min(1) }).strict();

/** Routes shaped like the gateway's own, each answering what it was given once the edge let it through. */
@Controller('edge')
class EdgeController {
  @Put('settings')
  settings(@ZodBody(UpdateHoursSettingsRequest) body: UpdateHoursSettingsRequest): unknown {
    return { body };
  }

  @Get('search')
  search(@ZodQuery(PatientSearchQuery) query: PatientSearchQuery): unknown {
    return { query };
  }

  @Put('open')
  open(@ZodBody(OpenBody) body: unknown): unknown {
    return { body };
  }
}

/** Stands in for the bearer guard: the caller's roles come from a header. */
class ActorFromHeader implements NestMiddleware {
  use(request: { headers: Record<string, string | undefined>; actor?: Actor }, _response: unknown, next: () => void): void {
    const role = request.headers['x-role'];
    if (role) request.actor = role === 'patient' ? aPatient() : role === 'clinician' ? aClinician() : aManager();
    next();
  }
}

@Module({ controllers: [EdgeController] })
class EdgeModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(ActorFromHeader).forRoutes(EdgeController);
  }
}

describe(requireSender.name, () => {
  it('refuses a caller whose roles the schema does not list', () => {
    expect(() => requireSender(aPatient(), UpdateHoursSettingsRequest)).toThrow(expect.objectContaining({ code: 'forbidden' }));
    expect(() => requireSender(aClinician(), UpdateHoursSettingsRequest)).toThrow(expect.objectContaining({ code: 'forbidden' }));
    expect(() => requireSender(aPatient(), PatientSearchQuery)).toThrow(expect.objectContaining({ code: 'forbidden' }));
  });

  it('lets through a listed role, and anyone for a schema it does not list', () => {
    expect(() => requireSender(aManager(), UpdateHoursSettingsRequest)).not.toThrow();
    expect(() => requireSender(aClinician(), PatientSearchQuery)).not.toThrow();
    expect(() => requireSender(aPatient(), OpenBody)).not.toThrow();
  });
});

describe('ZodBody and ZodQuery', () => {
  let app: INestApplication;
  let url: string;

  const call = async (method: 'GET' | 'PUT', path: string, role: Role, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { 'x-role': role, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };

  beforeAll(async () => {
    app = await NestFactory.create(EdgeModule, { logger: false });
    app.useGlobalFilters(new HttpErrorFilter());
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app.close();
  });

  it('answers a caller of another role forbidden before reading the body, whatever it holds', async () => {
    const answers = [await call('PUT', '/edge/settings', 'patient', {}), await call('PUT', '/edge/settings', 'clinician', { timeZone: 'Mars/Olympus' })];

    expect(answers).toEqual([
      { status: 403, body: { error: { code: 'forbidden', message: expect.any(String) } } },
      { status: 403, body: { error: { code: 'forbidden', message: expect.any(String) } } },
    ]);
    expect(JSON.stringify(answers)).not.toMatch(/timeZone|setting/);
  });

  it('refuses an empty "any of" body or query from a role that may send it', async () => {
    const body = await call('PUT', '/edge/settings', 'manager', {});
    const query = await call('GET', '/edge/search', 'clinician');

    expect(body).toEqual({ status: 400, body: { error: { code: 'invalid_payload', message: expect.stringContaining('name at least one setting') } } });
    expect(query).toEqual({ status: 400, body: { error: { code: 'invalid_payload', message: expect.stringContaining('give an NHS number') } } });
  });

  it('hands the parsed value to the handler when the role and the value fit', async () => {
    expect(await call('PUT', '/edge/settings', 'manager', { cutoffMinutes: 30 })).toEqual({ status: 200, body: { body: { cutoffMinutes: 30 } } });
    expect(await call('GET', '/edge/search?name=%20Pat%20', 'clinician')).toEqual({ status: 200, body: { query: { name: 'Pat' } } });
    expect(await call('PUT', '/edge/open', 'patient', { note: 'x' })).toEqual({ status: 200, body: { body: { note: 'x' } } });
  });

  it('validates an unlisted schema for anyone', async () => {
    expect(await call('PUT', '/edge/open', 'patient', { note: '' })).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
  });
});
