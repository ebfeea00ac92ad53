/**
 * Models by name. Functions cannot cross a worker boundary, so the parallel checker sends a
 * model's name and each worker looks the model up here.
 */
import { kvModel, registerModel } from './kv-model.js';
import type { Model } from './model.js';

// The registry erases the type parameters: a worker only moves plain data through a model.
type AnyModel = Model<any, any, any>;

const models = {
  kv: kvModel as AnyModel,
  register: registerModel as AnyModel,
} as const;

export type ModelName = keyof typeof models;

export const modelNames: readonly ModelName[] = Object.keys(models) as ModelName[];

export function isModelName(name: unknown): name is ModelName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(models, name);
}

/** The model called `name`; throws, naming the known models, when there is none. */
export function getModel(name: string): AnyModel {
  if (!isModelName(name)) {
    throw new Error(`unknown model ${JSON.stringify(name)}; known models: ${modelNames.join(', ')}`);
  }
  return models[name];
}
