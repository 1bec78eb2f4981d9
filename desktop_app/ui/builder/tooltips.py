"""One line per setting: what it does to the science (shown as the builder's tooltips)."""

from __future__ import annotations

TOOLTIPS: dict[str, str] = {
    "name": "Names the run folder and the run history entry; no effect on training.",
    "kind": "standard: train every arm on every seed and watch the panels; output variance: measure how much "
    "the final function depends on each block of the training stream (Erhan 2010, Fig. 3).",
    "kind.standard": "Train every arm x seed: filters, trajectories, curves, error surfaces, function space.",
    "kind.output-variance": "For each block position, retrain with that block resampled and measure the variance "
    "of the outputs on the probe set: early examples matter more; pre-trained nets vary less.",
    "output_variance": "Erhan 2010 Fig. 3: the training stream is cut into blocks; one block at a time is "
    "resampled while init, order and every other block stay fixed.",
    "output_variance.n_blocks": "Blocks the training stream is cut into; the x axis of the plot (block 0 = seen "
    "first). Every block x resample trains one net: cost grows with both.",
    "output_variance.resamples": "Nets trained per block position, each with a fresh resample of that block; the "
    "variance of their outputs is the y value.",
    "output_variance.resample": "pool: replace the block with other labelled examples; deform: a fresh elastic "
    "deformation of the same examples (elastic data); auto: deform when the data are elastic.",
    # data
    "data.name": "Which images: the embedded digits, generated Shapeset, an endless elastic stream, "
    "MNIST / Fashion-MNIST IDX files, an .npz or an image folder.",
    "data.base": "The image set the elastic stream deforms (an InfiniteMNIST-like endless supply).",
    "data.path": "File or folder to read the images from; empty uses the user cache.",
    "data.download": "Fetch MNIST / Fashion-MNIST into the user cache (sha256-checked) if missing.",
    "data.n_labelled": "Labelled examples fine-tuning may see; a small labelled set is where pre-training "
    "still helps (0 = all).",
    "data.n_unlabelled": "Unlabelled pool for pre-training (labels hidden); more unlabelled data makes the "
    "pre-trained start point better (0 = every training image).",
    "data.elastic_alpha": "Displacement scale in pixels; larger = stronger deformations (Simard 2003 used 34 "
    "at sigma 4).",
    "data.elastic_sigma": "Smoothing of the displacement field; small sigma = jittery, large = smooth warps.",
    "data.affine_degrees": "Maximum random rotation added to each deformation.",
    "data.affine_scale": "Maximum random relative scaling added to each deformation.",
    "data.shapeset_count": "How many Shapeset images are generated (Erhan 2010 used Shapeset-3x2).",
    "data.image_size": "Side of the generated Shapeset images, in pixels.",
    # model
    "model.layers": "Hidden layers, input to output; pre-training trains them greedily one at a time "
    "(deeper nets are where random init struggles most).",
    "model.layers.kind": "dense = fully connected (RBM/DAE pre-train it), conv = convolution (CAE pre-trains "
    "it), pool = max pooling.",
    "model.layers.units": "Hidden units (dense) or channels (conv); Erhan 2010 used 400-2000 per layer.",
    "model.layers.kernel": "Convolution / pooling window side, in pixels.",
    "model.layers.stride": "Step between windows; stride > 1 shrinks the feature map.",
    "model.activation": "Hidden non-linearity; sigmoid is what RBM/DAE pre-training was designed for.",
    "model.init": "How weights start when not pre-trained; pre-training's advantage depends on this baseline.",
    "model.init.classic": "U[-1/sqrt(fan_in), 1/sqrt(fan_in)], what Erhan 2010 used; pre-training helps most "
    "here.",
    "model.init.glorot": "Glorot & Bengio 2010 uniform scaling that keeps activations and gradients in "
    "range; narrows the gap to pre-training.",
    "model.init.he": "He 2015 scaling for ReLU nets; with ReLU it removes much of the need for pre-training.",
    "model.init.orthogonal": "Orthogonal matrices (Saxe 2014): preserves norms through depth at start.",
    "model.dropout": "Drop this fraction of hidden units during fine-tuning; another regulariser to compare "
    "with pre-training.",
    "model.l1": "L1 weight penalty during fine-tuning (sparse weights); Erhan 2010 compared it with "
    "pre-training.",
    "model.l2": "L2 weight decay during fine-tuning; a classic regulariser that, unlike pre-training, does not "
    "move the basin.",
    # arms
    "arms": "Each checked method is one arm, trained on the same seeds; 'none' is the random-init baseline.",
    "arms.none": "Baseline arm: random init, fine-tuning only.",
    "arms.rbm": "Greedy layer-wise Bernoulli RBMs (Hinton 2006), then fine-tuning.",
    "arms.dae": "Greedy layer-wise denoising autoencoders (Vincent 2008), then fine-tuning.",
    "arms.cae": "Convolutional autoencoders for the conv layers, then fine-tuning.",
    # pre-training
    "pretraining.rbm.epochs": "Pre-training passes over the unlabelled pool per layer; Erhan 2010 used 10.",
    "pretraining.rbm.lr": "RBM learning rate for the contrastive-divergence updates.",
    "pretraining.rbm.k": "CD-k: Gibbs steps per update; k=1 is Hinton's cheap default, larger k follows the "
    "likelihood gradient more closely.",
    "pretraining.rbm.persistent": "PCD (Tieleman 2008): keep the Gibbs chains between updates; better "
    "likelihood, similar features.",
    "pretraining.rbm.batch_size": "RBM minibatch size.",
    "pretraining.rbm.momentum": "Momentum on the RBM updates; smooths the noisy CD gradient.",
    "pretraining.dae.epochs": "Pre-training passes over the unlabelled pool per layer.",
    "pretraining.dae.lr": "DAE learning rate (tied weights, reconstruction loss).",
    "pretraining.dae.noise": "masking: zero random inputs; gaussian: add N(0, level^2) noise.",
    "pretraining.dae.corruption": "Masking: zero this fraction of inputs (Vincent 2008; Glorot 2011 used "
    "25%); Gaussian: noise std.",
    "pretraining.dae.batch_size": "DAE minibatch size.",
    "pretraining.cae.epochs": "Pre-training passes over the unlabelled pool per conv layer.",
    "pretraining.cae.lr": "Convolutional autoencoder learning rate.",
    "pretraining.cae.noise": "masking: zero random inputs; gaussian: add N(0, level^2) noise.",
    "pretraining.cae.corruption": "Masking fraction or Gaussian std of the CAE input noise; some noise keeps "
    "it from learning the identity.",
    "pretraining.cae.batch_size": "CAE minibatch size.",
    # fine-tuning
    "finetune.optimizer": "Supervised optimiser: plain SGD (as in Erhan 2010), SGD with momentum, or Adam.",
    "finetune.lr": "Fine-tuning learning rate; too large erases what pre-training found.",
    "finetune.momentum": "Momentum coefficient (optimizer 'momentum' only).",
    "finetune.batch_size": "Fine-tuning minibatch size; Erhan 2010 used 10 (online-like SGD).",
    "finetune.epochs": "Supervised passes over the labelled set; train and test NLL are recorded each epoch.",
    # seeds / device
    "seeds.count": "Paired seeds: seed i has the same init and data order in every arm, so arm differences "
    "come from pre-training alone.",
    "seeds.base": "First seed; seeds are base, base+1, ...",
    "device": "auto uses a CUDA GPU when present, else the CPU; results are reproducible on one device.",
    "threads": "torch CPU threads for this run; 0 = default.",
}


def tooltip(path: str) -> str:
    return TOOLTIPS.get(path, "")
