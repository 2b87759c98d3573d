import type { NatsConnection } from '@nats-io/transport-node';

/**
 * Whether a connection is up right now, from its status notifications: the client reconnects
 * on its own, and says so, but offers no flag to ask.
 */
export class NatsConnectionState {
  private connected = true;

  constructor(private readonly nc: NatsConnection) {
    void this.follow();
  }

  get isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  private async follow(): Promise<void> {
    // The iterator ends when the connection closes.
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect' || status.type === 'close') this.connected = false;
      else if (status.type === 'reconnect') this.connected = true;
    }
  }
}
