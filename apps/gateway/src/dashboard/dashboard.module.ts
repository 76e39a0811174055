import { Module } from '@nestjs/common';
import { RoutingModule } from '../routing/routing.module.js';
import { DashboardGateway } from './dashboard.gateway.js';
import { DashboardRepository } from './dashboard.repository.js';
import { DashboardService } from './dashboard.service.js';

/** The manager's dashboard: the live queue (from RoutingService) and today's figures. */
@Module({ imports: [RoutingModule], providers: [DashboardGateway, DashboardService, DashboardRepository], exports: [DashboardService] })
export class DashboardModule {}
