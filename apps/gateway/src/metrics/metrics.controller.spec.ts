import type { Response } from 'express';
import { DomainError } from '../common/domain-error.js';
import { loadConfig } from '../config.js';
import { mockOf } from '../../test/mocks.js';
import { isBearer, MetricsController } from './metrics.controller.js';
import type { MetricsService } from './metrics.service.js';

describe(MetricsController.name, () => {
  const metrics = mockOf<MetricsService>();
  const response = mockOf<Response>();

  it('answers not_found when no METRICS_TOKEN is configured, whatever is sent', async () => {
    const sut = new MetricsController(metrics, loadConfig({}));

    await expect(sut.scrape('Bearer anything-at-all-here', response)).rejects.toEqual(new DomainError('not_found'));
    expect(metrics.render).not.toHaveBeenCalled();
  });
});

describe(isBearer.name, () => {
  const token = 'a-metrics-token-of-some-length';

  it('accepts exactly `Bearer <token>`', () => {
    expect(isBearer(`Bearer ${token}`, token)).toBe(true);
  });

  it('refuses a missing header, another scheme, a prefix or a longer token', () => {
    expect(isBearer(undefined, token)).toBe(false);
    expect(isBearer(`Basic ${token}`, token)).toBe(false);
    expect(isBearer(`Bearer ${token.slice(0, -1)}`, token)).toBe(false);
    expect(isBearer(`Bearer ${token}x`, token)).toBe(false);
  });
});
