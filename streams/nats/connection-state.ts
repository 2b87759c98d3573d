import type { NatsConnection } from '@nats-io/transport-node';

/**
 * Whether a connection is up right now, from its status notifications: the client reconnects
 * on its own, and says so, but offers no flag to ask.
 */
export class NatsConnectionState {
  private connected = true;
  private readonly listeners: Array<(connected: boolean) => void> = [];

  constructor(private readonly nc: NatsConnection) {
    void this.follow();
  }

  get isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  /** Called with false when the connection drops and true when it is back (not at close). */
  onChange(listener: (connected: boolean) => void): void {
    this.listeners.push(listener);
  }

  private async follow(): Promise<void> {
    // The iterator ends when the connection closes.
    for await (const status of this.nc.status()) {
      if (status.type === 'close') this.connected = false;
      else if (status.type === 'disconnect') this.change(false);
      else if (status.type === 'reconnect') this.change(true);
    }
  }

  private change(connected: boolean): void {
    this.connected = connected;
    for (const listener of this.listeners) listener(connected);
  }
}
