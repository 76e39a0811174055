import { Module } from '@nestjs/common';
import { SystemGateway } from './system.gateway.js';

@Module({ providers: [SystemGateway] })
export class SystemModule {}
