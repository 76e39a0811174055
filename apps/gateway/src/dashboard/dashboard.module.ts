import { Module } from '@nestjs/common';
import { QueueModule } from '../queue/queue.module.js';
import { DashboardGateway } from './dashboard.gateway.js';
import { DashboardRepository } from './dashboard.repository.js';
import { DashboardService } from './dashboard.service.js';

/** The manager's dashboard: the live queue (from QueueService) and today's figures. */
@Module({ imports: [QueueModule], providers: [DashboardGateway, DashboardService, DashboardRepository], exports: [DashboardService] })
export class DashboardModule {}
