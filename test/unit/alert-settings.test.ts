import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, resolveConfig } from '../../cli/config.js';

test('metrics: off by default, on every interface when on; port and host from flags or env', () => {
  const defaults = resolveConfig({}, {});
  assert.is(defaults.metricsPort, 0);
  assert.is(defaults.metricsHost, '0.0.0.0');
  assert.is(defaults.alertWebhook, '');
  const fromEnv = resolveConfig({}, { CLOUDAI_METRICS_PORT: '9464', CLOUDAI_METRICS_HOST: '127.0.0.1' });
  assert.is(fromEnv.metricsPort, 9464);
  assert.is(fromEnv.metricsHost, '127.0.0.1');
  assert.is(resolveConfig({ metricsPort: 9100 }, { CLOUDAI_METRICS_PORT: '9464' }).metricsPort, 9100);
});

test('a metrics port that is no port, or a webhook that is no http(s) URL, is explained', () => {
  const refused = (flags: Parameters<typeof resolveConfig>[0], env: NodeJS.ProcessEnv, message: RegExp) =>
    assert.throws(
      () => resolveConfig(flags, env),
      (error: Error) => error instanceof ConfigError && message.test(error.message),
    );
  refused(
    {},
    { CLOUDAI_METRICS_PORT: 'http' },
    /CLOUDAI_METRICS_PORT must be a positive whole number of port \(0: off\)/,
  );
  refused({ metricsPort: 70_000 }, {}, /metrics port must be between 1 and 65535/);
  refused({}, { CLOUDAI_ALERT_WEBHOOK: 'hooks.example.com/x' }, /is not an http:\/\/ or https:\/\/ URL/);
  refused({ alertWebhook: 'http://[bad' }, {}, /is not an http:\/\/ or https:\/\/ URL/);
  assert.is(
    resolveConfig({ alertWebhook: 'https://hooks.example.com/T0/B1?token=x' }, {}).alertWebhook,
    'https://hooks.example.com/T0/B1?token=x',
  );
});

test.run();
