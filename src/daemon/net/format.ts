/**
 * Renders a validated fault back into the input form `validateNetworkFault`
 * accepts, in canonical units. The daemon journals this form, and validates it
 * again when it plans, so no journal edit or bug can carry an unchecked value
 * into a command.
 */
import { cidrText } from './fault.ts';
import type { NetworkFault, Ppm, Scope } from './fault.ts';

function percent(ppm: Ppm): string {
  return String(ppm / 10_000);
}

function scopeInput(scope: Scope): Record<string, unknown> {
  const out: Record<string, unknown> = { direction: scope.direction, protocol: scope.protocol };
  if (scope.device !== undefined) out['device'] = scope.device;
  if (scope.cidrs.length > 0) out['cidrs'] = scope.cidrs.map(cidrText);
  if (scope.ports.length > 0) out['ports'] = [...scope.ports];
  if (scope.exceptCidrs.length > 0) out['exceptCidrs'] = scope.exceptCidrs.map(cidrText);
  return out;
}

export function formatNetworkFault(fault: NetworkFault): Record<string, unknown> {
  const scope = scopeInput(fault.scope);
  switch (fault.action) {
    case 'delay':
      return { action: 'delay', delay: { latency: `${fault.delay.latency}us`, jitter: `${fault.delay.jitter}us`, correlation: percent(fault.delay.correlation) }, scope };
    case 'loss':
      return { action: 'loss', loss: { loss: percent(fault.loss.loss), correlation: percent(fault.loss.correlation) }, scope };
    case 'duplicate':
      return { action: 'duplicate', duplicate: { duplicate: percent(fault.duplicate.duplicate), correlation: percent(fault.duplicate.correlation) }, scope };
    case 'corrupt':
      return { action: 'corrupt', corrupt: { corrupt: percent(fault.corrupt.corrupt), correlation: percent(fault.corrupt.correlation) }, scope };
    case 'reorder': {
      const reorder: Record<string, unknown> = { reorder: percent(fault.reorder.reorder), correlation: percent(fault.reorder.correlation), gap: fault.reorder.gap };
      if (fault.reorder.latency !== undefined) reorder['latency'] = `${fault.reorder.latency}us`;
      return { action: 'reorder', reorder, scope };
    }
    case 'bandwidth': {
      const { rate, limit, buffer, peakrate, minburst } = fault.bandwidth;
      const bandwidth: Record<string, unknown> = { rate: `${rate}bit`, limit, buffer };
      if (peakrate !== undefined) bandwidth['peakrate'] = `${peakrate}bit`;
      if (minburst !== undefined) bandwidth['minburst'] = minburst;
      return { action: 'bandwidth', bandwidth, scope };
    }
    case 'partition':
      return { action: 'partition', scope };
  }
}
