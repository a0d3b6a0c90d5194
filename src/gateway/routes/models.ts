/** GET /models and /models/{id}: the OpenAI list and object shapes, only models the key may use. */
import type { FastifyInstance } from 'fastify';
import type { CompiledModel } from '../../compile/types.js';
import { Errors } from '../errors.js';
import type { RouteContext } from './context.js';

/** A stable `created`: the models have no creation date of their own; clients only display it. */
const CREATED = 1_767_225_600;

function modelObject(m: CompiledModel): Record<string, unknown> {
  return {
    id: m.id,
    object: 'model',
    created: CREATED,
    owned_by: m.provider,
    // TokenHub's own fields: clients that know them can pick a model that fits.
    tokenhub: {
      aliases: m.aliases,
      lifecycle: m.lifecycle,
      capabilities: [...m.capabilities],
      context_window: m.limits.contextWindow,
      max_input_tokens: m.limits.maxInput,
      max_output_tokens: m.limits.maxOutput,
      default_max_output_tokens: m.limits.defaultMaxOutput,
    },
  };
}

export function registerModelRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/models', async (req) => {
    const { config, key } = ctx.authorize(req);
    const data = config.modelIds.filter((id) => key.allowedModels.has(id)).map((id) => modelObject(config.models.get(id) as CompiledModel));
    return { object: 'list', data };
  });
  app.get<{ Params: { id: string } }>('/models/:id', async (req) => {
    const { config, key } = ctx.authorize(req);
    const model = config.models.get(req.params.id);
    if (model === undefined || !key.allowedModels.has(model.id)) throw Errors.modelNotFound(req.params.id);
    return modelObject(model);
  });
}
