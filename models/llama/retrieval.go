package llama

import (
	"fmt"
	"strings"

	"github.com/qzoo/qzoo/formats/llama2c"
)

// RetrievalNames are the protagonists of [RetrievalPrompt]: names stories260K writes, so
// that retrieving one is a matter of attending back to it, not of spelling it.
var RetrievalNames = []string{"Lily", "Tom", "Ben", "Sue", "Max", "Anna", "Jack", "Mia", "Zoe", "Sam", "Tim", "Lucy"}

// retrievalFiller is the story between the fact and the question: it never names anyone.
var retrievalFiller = []string{
	"She loved to play with her toys.",
	"One day, she went to the park with her mom.",
	"They saw a big tree and many birds.",
	"The birds were singing and the sun was shining.",
	"She was very happy and ran and jumped and laughed.",
	"Her mom smiled.",
	"They played all day until it was time to go home.",
	"At home, she ate her dinner and went to bed.",
	"The next morning, she woke up early.",
	"She put on her red dress and her shoes.",
	"She had a big breakfast with milk and bread.",
	"Then she went outside to see the flowers.",
	"The flowers were pink and yellow and they smelled very nice.",
	"A little bird came and sat on a branch.",
	"It sang a happy song.",
	"She clapped her hands and smiled at the bird.",
}

// RetrievalPrompt is a story that names its protagonist once, in its first sentence, then
// tells sentences (at most len(retrievalFiller)) sentences without naming her, and stops at
// "The next day,": the model's greedy continuation should be her name.
func RetrievalPrompt(name string, sentences int) string {
	sentences = min(max(sentences, 0), len(retrievalFiller))
	return fmt.Sprintf("Once upon a time, there was a little girl named %s. %s The next day,", name,
		strings.Join(retrievalFiller[:sentences], " "))
}

// MaxRetrievalSentences is the longest filler [RetrievalPrompt] has.
var MaxRetrievalSentences = len(retrievalFiller)

// Retrieval runs the retrieval check on d: for each name, d is reset, fed llama2c.BOS and
// RetrievalPrompt(name, sentences), and decodes greedily; a hit is a continuation whose first
// word is the name. It returns the hits and the prompt tokens of the longest prompt.
func Retrieval(d Decoder, tok *llama2c.Tokenizer, names []string, sentences int) (hits, promptTokens int, err error) {
	greedy, _ := NewSampler(0, 0, 1)
	for _, name := range names {
		d.Reset()
		prompt, err := tok.Encode(RetrievalPrompt(name, sentences), true, false)
		if err != nil {
			return 0, 0, err
		}
		promptTokens = max(promptTokens, len(prompt))
		answer, err := tok.Encode(" "+name+" x", false, false) // the name and a word after it
		if err != nil {
			return 0, 0, err
		}
		out, err := Generate(d, prompt, len(answer), greedy, nil)
		if err != nil {
			return 0, 0, err
		}
		text, err := tok.Decode(out)
		if err != nil {
			return 0, 0, err
		}
		text = strings.TrimSpace(text)
		first := strings.FieldsFunc(text, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
		if len(first) > 0 && first[0] == name {
			hits++
		}
	}
	return hits, promptTokens, nil
}
