import { Module } from '@nestjs/common';
import { RecordRepository } from './record.repository.js';
import { RecordService } from './record.service.js';

@Module({ providers: [RecordService, RecordRepository], exports: [RecordService] })
export class RecordModule {}
