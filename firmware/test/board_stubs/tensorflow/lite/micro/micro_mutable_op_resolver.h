// Compile-check stub of TFLM's MicroMutableOpResolver: the Add* methods of
// tflite-micro's micro_mutable_op_resolver.h (builtin operators), so a
// generated model_ops.h that calls a method TFLM does not have fails to
// compile. Not TFLM.
#ifndef TINYMLOPS_STUB_MICRO_MUTABLE_OP_RESOLVER_H_
#define TINYMLOPS_STUB_MICRO_MUTABLE_OP_RESOLVER_H_

typedef enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;

#define TF_LITE_ENSURE_STATUS(a) \
  do {                            \
    const TfLiteStatus s = (a);   \
    if (s != kTfLiteOk) {         \
      return s;                   \
    }                             \
  } while (0)

namespace tflite {

class MicroOpResolver {
 public:
  virtual ~MicroOpResolver();
};

template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {
 public:
  TfLiteStatus AddAbs();
  TfLiteStatus AddAdd();
  TfLiteStatus AddAddN();
  TfLiteStatus AddArgMax();
  TfLiteStatus AddArgMin();
  TfLiteStatus AddAveragePool2D();
  TfLiteStatus AddBatchToSpaceNd();
  TfLiteStatus AddCast();
  TfLiteStatus AddCeil();
  TfLiteStatus AddCircularBuffer();
  TfLiteStatus AddConcatenation();
  TfLiteStatus AddConv2D();
  TfLiteStatus AddCos();
  TfLiteStatus AddCumSum();
  TfLiteStatus AddDepthToSpace();
  TfLiteStatus AddDepthwiseConv2D();
  TfLiteStatus AddDequantize();
  TfLiteStatus AddDetectionPostprocess();
  TfLiteStatus AddElu();
  TfLiteStatus AddEqual();
  TfLiteStatus AddEthosU();
  TfLiteStatus AddExp();
  TfLiteStatus AddExpandDims();
  TfLiteStatus AddFill();
  TfLiteStatus AddFloor();
  TfLiteStatus AddFloorDiv();
  TfLiteStatus AddFloorMod();
  TfLiteStatus AddFullyConnected();
  TfLiteStatus AddGather();
  TfLiteStatus AddGatherNd();
  TfLiteStatus AddGreater();
  TfLiteStatus AddGreaterEqual();
  TfLiteStatus AddHardSwish();
  TfLiteStatus AddIf();
  TfLiteStatus AddL2Normalization();
  TfLiteStatus AddL2Pool2D();
  TfLiteStatus AddLeakyRelu();
  TfLiteStatus AddLess();
  TfLiteStatus AddLessEqual();
  TfLiteStatus AddLog();
  TfLiteStatus AddLogicalAnd();
  TfLiteStatus AddLogicalNot();
  TfLiteStatus AddLogicalOr();
  TfLiteStatus AddLogistic();
  TfLiteStatus AddMaximum();
  TfLiteStatus AddMaxPool2D();
  TfLiteStatus AddMean();
  TfLiteStatus AddMinimum();
  TfLiteStatus AddMul();
  TfLiteStatus AddNeg();
  TfLiteStatus AddNotEqual();
  TfLiteStatus AddPack();
  TfLiteStatus AddPad();
  TfLiteStatus AddPadV2();
  TfLiteStatus AddPrelu();
  TfLiteStatus AddQuantize();
  TfLiteStatus AddReduceMax();
  TfLiteStatus AddRelu();
  TfLiteStatus AddRelu6();
  TfLiteStatus AddReshape();
  TfLiteStatus AddResizeBilinear();
  TfLiteStatus AddResizeNearestNeighbor();
  TfLiteStatus AddRound();
  TfLiteStatus AddRsqrt();
  TfLiteStatus AddShape();
  TfLiteStatus AddSin();
  TfLiteStatus AddSoftmax();
  TfLiteStatus AddSpaceToBatchNd();
  TfLiteStatus AddSpaceToDepth();
  TfLiteStatus AddSplit();
  TfLiteStatus AddSplitV();
  TfLiteStatus AddSqueeze();
  TfLiteStatus AddSqrt();
  TfLiteStatus AddSquare();
  TfLiteStatus AddStridedSlice();
  TfLiteStatus AddSub();
  TfLiteStatus AddSvdf();
  TfLiteStatus AddTanh();
  TfLiteStatus AddTransposeConv();
  TfLiteStatus AddTranspose();
  TfLiteStatus AddUnpack();
  TfLiteStatus AddZerosLike();
};

}  // namespace tflite

#endif  // TINYMLOPS_STUB_MICRO_MUTABLE_OP_RESOLVER_H_
