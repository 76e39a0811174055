import { Global, Module } from '@nestjs/common';
import { RealtimePublisher } from './realtime.publisher.js';
import { SendLanes } from './send-lanes.js';

/**
 * One RealtimePublisher for the whole application: every feature sends facts through the same socket.io server.
 * And one SendLanes: the order of each device's sends, kept by the send handler and told of the flood limit's refusals.
 */
@Global()
@Module({ providers: [RealtimePublisher, SendLanes], exports: [RealtimePublisher, SendLanes] })
export class RealtimeModule {}
