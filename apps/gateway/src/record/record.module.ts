import { Module } from '@nestjs/common';
import { FaultPoints } from './fault-points.js';
import { RecordRepository } from './record.repository.js';
import { RecordService } from './record.service.js';

@Module({ providers: [RecordService, RecordRepository, FaultPoints], exports: [RecordService] })
export class RecordModule {}
