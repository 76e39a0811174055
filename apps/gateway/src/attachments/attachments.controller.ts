import { Controller, Delete, Get, HttpCode, Logger, Param, Post, Put, Req, Res, StreamableFile, UseGuards } from '@nestjs/common';
import { ATTACHMENT_PART_BYTES, CreateUploadRequest, UploadChunkRef, type UploadCreated, type UploadStatus } from '@parley/protocol';
import type { Request, Response } from 'express';
import { Readable } from 'node:stream';
import { Actor } from '../common/actor.js';
import { readRawBody } from '../common/raw-body.js';
import { SchemaPipe } from '../common/schema.pipe.js';
import { UuidParam } from '../common/uuid-param.decorator.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { AttachmentsService } from './attachments.service.js';

/** The attachment routes (docs/protocol.md, "Attachments"): upload ciphertext parts, resume, complete, cancel, download. */
@Controller('api/attachments')
@UseGuards(BearerGuard)
export class AttachmentsController {
  private readonly logger = new Logger(AttachmentsController.name);

  constructor(private readonly attachments: AttachmentsService) {}

  @Post('uploads')
  create(@Actor() actor: Actor, @ZodBody(CreateUploadRequest) body: CreateUploadRequest): Promise<UploadCreated> {
    return this.attachments.create(actor, body);
  }

  /** One ciphertext part, as raw bytes: the only route with a body that is not JSON. */
  @Put('uploads/:uploadId/chunks/:index')
  @HttpCode(204)
  async putPart(
    @Actor() actor: Actor,
    @UuidParam('uploadId') uploadId: string,
    @Param('index', new SchemaPipe(UploadChunkRef.shape.index)) index: number,
    @Req() request: Request,
  ): Promise<void> {
    await this.attachments.putPart(actor, uploadId, index, await readRawBody(request, ATTACHMENT_PART_BYTES));
  }

  @Get('uploads/:uploadId')
  status(@Actor() actor: Actor, @UuidParam('uploadId') uploadId: string): Promise<UploadStatus> {
    return this.attachments.status(actor, uploadId);
  }

  @Post('uploads/:uploadId/complete')
  @HttpCode(200)
  complete(@Actor() actor: Actor, @UuidParam('uploadId') uploadId: string): Promise<UploadStatus> {
    return this.attachments.complete(actor, uploadId);
  }

  @Delete('uploads/:uploadId')
  @HttpCode(204)
  cancel(@Actor() actor: Actor, @UuidParam('uploadId') uploadId: string): Promise<void> {
    return this.attachments.cancel(actor, uploadId);
  }

  /**
   * The whole ciphertext, streamed part by part from the store. Never cached, never sniffed, never shown by the
   * browser: it is opaque bytes the client verifies (hash) and decrypts.
   */
  @Get(':uploadId')
  async download(@Actor() actor: Actor, @UuidParam('uploadId') uploadId: string, @Res({ passthrough: true }) response: Response): Promise<StreamableFile> {
    const download = await this.attachments.download(actor, uploadId);
    response.setHeader('Cache-Control', 'no-store');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    const file = new StreamableFile(Readable.from(download.parts), {
      type: 'application/octet-stream',
      length: download.cipherBytes,
      disposition: `attachment; filename="${uploadId}.bin"`,
    });
    // Once the first bytes are out, a failure can only cut the response short: the client's length and hash checks catch it.
    return file.setErrorHandler((error, res) => {
      this.logger.error({ uploadId, err: error }, 'download failed');
      res.destroy?.();
    });
  }
}
