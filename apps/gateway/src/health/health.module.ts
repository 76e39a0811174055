import { Module } from '@nestjs/common';
import { DrainService } from './drain.service.js';
import { HealthController } from './health.controller.js';
import { HealthService } from './health.service.js';
import { RedisProbe } from './redis-probe.js';

@Module({ controllers: [HealthController], providers: [HealthService, RedisProbe, DrainService], exports: [DrainService] })
export class HealthModule {}
