import type { ActionsConfig, ActionRule } from '../config/schema.js';

type GpioAction = NonNullable<ActionRule['gpio']>;

/**
 * gpioset's arguments for one pulse: set the line, hold it `hold_ms`, exit (which releases it).
 * libgpiod 1.x (JetPack 5 and 6 ship 1.6) and 2.x spell this differently:
 *   v1: gpioset --mode=time --usec=N CHIP LINE=VALUE   (--mode=exit when hold_ms is 0)
 *   v2: gpioset --chip CHIP --toggle N,0 LINE=VALUE    (toggles back after N ms, then exits)
 *       gpioset --chip CHIP --toggle 0 LINE=VALUE      (hold_ms 0: set and exit)
 */
export function gpiosetArgs(gpio: GpioAction, syntax: ActionsConfig['gpioset_syntax']): string[] {
  const assign = `${gpio.line}=${gpio.value}`;
  if (syntax === 'v2') {
    return ['--chip', gpio.chip, '--toggle', gpio.hold_ms > 0 ? `${gpio.hold_ms},0` : '0', assign];
  }
  return gpio.hold_ms > 0
    ? ['--mode=time', `--usec=${gpio.hold_ms * 1000}`, gpio.chip, assign]
    : ['--mode=exit', gpio.chip, assign];
}
