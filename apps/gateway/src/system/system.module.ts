import { Module } from '@nestjs/common';
import { SystemController } from './system.controller.js';
import { SystemGateway } from './system.gateway.js';

@Module({ controllers: [SystemController], providers: [SystemGateway] })
export class SystemModule {}
