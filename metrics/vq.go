package metrics

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/tensors"
)

// VQEvaluator accumulates reconstruction error, code histograms and bits of a vector-quantised
// autoencoder. Add takes inputs [images] and predictions [reconstruction, codes [..., S],
// bits per image [B]], the bits being what the quantizer reports (including side information).
type VQEvaluator struct {
	codebookSize, stages int
	sumSquaredError      float64
	pixels               int64
	sumBits              float64
	images               int64
	histograms           [][]int64 // [stage][code]
	imageMSE             []float64 // per image, in order
}

// SampleImageMSE names the per-image samples of [VQEvaluator.Samples]: each image's mean
// squared error over its pixels (their mean is the metric mse; the latent study's bootstrap
// resamples them).
const SampleImageMSE = "mse"

// NewVQEvaluator returns an evaluator for K = codebookSize codes per stage and the given
// number of stages.
func NewVQEvaluator(codebookSize, stages int) *VQEvaluator {
	h := make([][]int64, stages)
	for i := range h {
		h[i] = make([]int64, codebookSize)
	}
	return &VQEvaluator{codebookSize: codebookSize, stages: stages, histograms: h}
}

// Add accumulates one batch.
func (e *VQEvaluator) Add(inputs, predictions []*tensors.Tensor) error {
	if len(inputs) < 1 || len(predictions) < 3 {
		return fmt.Errorf("metrics: VQEvaluator wants inputs [images] and predictions [reconstruction, codes, bits per image], got %d and %d", len(inputs), len(predictions))
	}
	images, recon := tensors.MustCopyFlatData[float32](inputs[0]), tensors.MustCopyFlatData[float32](predictions[0])
	if len(images) != len(recon) {
		return fmt.Errorf("metrics: reconstruction has %d values, images %d", len(recon), len(images))
	}
	bits := tensors.MustCopyFlatData[float32](predictions[2])
	if batch := inputs[0].Shape().Dimensions[0]; len(bits) != batch {
		return fmt.Errorf("metrics: %d bits-per-image values for %d images", len(bits), batch)
	}
	return e.AddFlat(images, recon, tensors.MustCopyFlatData[int32](predictions[1]), bits)
}

// AddFlat accumulates flat images, reconstructions, codes (the last axis of codes being the
// stage) and the bits of each image.
func (e *VQEvaluator) AddFlat(images, recon []float32, codes []int32, bitsPerImage []float32) error {
	if len(bitsPerImage) == 0 || len(images)%len(bitsPerImage) != 0 {
		return fmt.Errorf("metrics: %d pixels are not whole images of %d", len(images), len(bitsPerImage))
	}
	perImage := len(images) / len(bitsPerImage)
	for i, x := range images {
		d := float64(x) - float64(recon[i])
		if math.IsNaN(d) {
			return fmt.Errorf("metrics: reconstruction pixel %d is NaN", i)
		}
		e.sumSquaredError += d * d
		if i%perImage == 0 {
			e.imageMSE = append(e.imageMSE, 0)
		}
		e.imageMSE[len(e.imageMSE)-1] += d * d / float64(perImage)
	}
	e.pixels += int64(len(images))
	if len(codes)%e.stages != 0 {
		return fmt.Errorf("metrics: %d codes is not a multiple of %d stages", len(codes), e.stages)
	}
	for i, c := range codes {
		if c < 0 || int(c) >= e.codebookSize {
			return fmt.Errorf("metrics: code %d out of range [0, %d)", c, e.codebookSize)
		}
		e.histograms[i%e.stages][c]++
	}
	for i, b := range bitsPerImage {
		if !(b >= 0) || math.IsInf(float64(b), 0) {
			return fmt.Errorf("metrics: image %d costs %v bits", i, b)
		}
		e.sumBits += float64(b)
	}
	e.images += int64(len(bitsPerImage))
	return nil
}

// Metrics returns mse, psnr, utilization, code_perplexity and bits_per_image (the mean of the
// bits the quantizer reported per image).
func (e *VQEvaluator) Metrics() map[string]float64 {
	mse := e.sumSquaredError / float64(max(e.pixels, 1))
	var utilization, codePerplexity float64
	for _, h := range e.histograms {
		u, p := Usage(h)
		utilization += u / float64(e.stages)
		codePerplexity += p / float64(e.stages)
	}
	return map[string]float64{
		"mse":             mse,
		"psnr":            PSNR(mse, 1),
		"utilization":     utilization,
		"code_perplexity": codePerplexity,
		"bits_per_image":  e.sumBits / float64(max(e.images, 1)),
	}
}

// Samples returns each evaluated image's mean squared error ([SampleImageMSE]), in order: the
// framework records them beside the evaluation (framework.SamplingEvaluator).
func (e *VQEvaluator) Samples() map[string][]float64 {
	return map[string][]float64{SampleImageMSE: e.imageMSE}
}

// PSNR is the peak signal-to-noise ratio in dB of a mean squared error for signals of the given peak.
func PSNR(mse, peak float64) float64 {
	return 10 * math.Log10(peak*peak/mse)
}

// Usage returns the share of codes used at least once and the code perplexity exp(H) of a
// histogram (the effective number of codes in use).
func Usage(histogram []int64) (utilization, codePerplexity float64) {
	var total int64
	used := 0
	for _, n := range histogram {
		total += n
		if n > 0 {
			used++
		}
	}
	if total == 0 {
		return 0, 0
	}
	var entropy float64
	for _, n := range histogram {
		if n > 0 {
			p := float64(n) / float64(total)
			entropy -= p * math.Log(p)
		}
	}
	return float64(used) / float64(len(histogram)), math.Exp(entropy)
}
