import { describe, expect, it } from 'vitest';
import { answerTokens, contentTokens, countPromptTokens, countWords, lastUserText, mentionsWord } from '../../src/mock-upstream/tokens.js';

describe('mock upstream token counting', () => {
  it('counts whitespace-separated words', () => {
    expect(countWords('')).toBe(0);
    expect(countWords('   ')).toBe(0);
    expect(countWords('one')).toBe(1);
    expect(countWords('  one\ttwo\nthree  ')).toBe(3);
    expect(countWords("what's the weather?")).toBe(3);
  });

  it('counts text parts and a flat 85 per image', () => {
    expect(contentTokens('a b c')).toBe(3);
    expect(
      contentTokens([
        { type: 'text', text: 'a b' },
        { type: 'image_url', image_url: { url: 'x' } },
        { type: 'text', text: 'c' },
      ]),
    ).toBe(88);
    expect(contentTokens(null)).toBe(0);
  });

  it('prompt tokens: 4 per message plus its words, plus 2', () => {
    expect(countPromptTokens([{ role: 'user', content: 'hello world' }])).toBe(4 + 2 + 2);
    const messages = [
      { role: 'system', content: 'You are helpful.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this' },
          { type: 'image_url', image_url: { url: 'x' } },
        ],
      },
      { role: 'assistant', content: null, tool_calls: [] },
    ];
    expect(countPromptTokens(messages)).toBe(4 + 3 + (4 + 3 + 85) + 4 + 2);
  });

  it('answers "Echo:" with up to 8 words of the last user message, then padding, joined without loss', () => {
    const tokens = answerTokens('one two three four five six seven eight nine ten', 12);
    expect(tokens).toHaveLength(12);
    expect(tokens.join('')).toBe('Echo: one two three four five six seven eight alpha bravo charlie');
    expect(answerTokens('hi', 1)).toEqual(['Echo:']);
    expect(answerTokens('', 3).join('')).toBe('Echo: alpha bravo');
  });

  it('finds the last user text and whole words', () => {
    const messages = [
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'x' },
      { role: 'user', content: [{ type: 'text', text: 'second' }] },
    ];
    expect(lastUserText(messages)).toBe('second');
    expect(mentionsWord('What is the Weather?', 'weather')).toBe(true);
    expect(mentionsWord('weathering', 'weather')).toBe(false);
  });
});
